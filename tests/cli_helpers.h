/* cli_helpers.h - what the command-line test files share: a temporary folder per
 * test (setup, teardown), running `$CGDML_BIN ARGS` in it and capturing its output,
 * and assertions on refusals and printed numbers.  Included by one test file per
 * suite; every function is static to that file.
 */
#ifndef CGDML_TESTS_CLI_HELPERS_H
#define CGDML_TESTS_CLI_HELPERS_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char output[8192]; /* stdout and stderr of the last command */

__attribute__((unused)) static void setup(void)
{
    strcpy(dir, "/tmp/cgdml-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(getenv("CGDML_BIN"), "run through make test (CGDML_BIN)");
}

__attribute__((unused)) static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Run `LAUNCHER cgdml ARGS` in the test folder (launcher: "" or e.g. "mpirun -np 2");
 * returns the exit code, output in `output`. */
static int run_cgdml(const char *launcher, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s %s %s > out.txt 2>&1", dir, launcher,
             getenv("CGDML_BIN"), args);
    int status = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/out.txt", dir);
    FILE *f = fopen(cmd, "r");
    size_t n = f ? fread(output, 1, sizeof output - 1, f) : 0;
    output[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run `cgdml ARGS` in the test folder; returns the exit code, output in `output`. */
static int cgdml(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static int cgdml(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run_cgdml("", args);
}

__attribute__((unused)) static int exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* No file of the folder is a leftover temporary ("*.tmp-*"). */
__attribute__((unused)) static void assert_no_temporaries(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'tmp-'", dir);
    cr_assert_neq(system(cmd), 0, "a temporary file was left behind");
}

#define assert_refused(code, expected_code, words)                                                 \
    do {                                                                                           \
        cr_assert_eq((code), (expected_code), "exit %d, output: %s", (code), output);              \
        cr_assert(strstr(output, (words)), "expected '%s' in: %s", (words), output);               \
        assert_no_temporaries();                                                                   \
    } while (0)

__attribute__((unused)) static double field(const char *name)
{
    const char *p = strstr(output, name);
    cr_assert_not_null(p, "no '%s' in: %s", name, output);
    return strtod(p + strlen(name), NULL);
}

#endif
