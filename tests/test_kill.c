/* test_kill.c - crash safety of the long commands: a `cgdml ensemble`, a
 * `cgdml simulate` and a `cgdml train --solver cg` are killed with SIGKILL in the
 * middle of their work; the files
 * the user had are intact, no output is torn, and the same command with --resume
 * finishes with results identical to an uninterrupted run.  The program is found
 * through $CGDML_BIN (set by `make test`).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgdml.h"

#include "cli_helpers.h"
#include "tmp_dir.h"

TestSuite(kill, .init = setup, .fini = teardown, .timeout = 300);

/* Start `cgdml ARGS` (words separated by single spaces) in the test folder, its
 * output to killed.txt; returns the child's pid. */
static pid_t start(const char *args)
{
    static char words[2048];
    char *argv[64];
    int n = 0;
    snprintf(words, sizeof words, "%s", args);
    argv[n++] = getenv("CGDML_BIN");
    for (char *w = strtok(words, " "); w && n < 63; w = strtok(NULL, " "))
        argv[n++] = w;
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(127);
        int fd = open("killed.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        setenv("OMP_NUM_THREADS", "1", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Files in folder `sub` of the test folder whose names contain `part`. */
static int count_files(const char *sub, const char *part)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

/* Wait (up to a minute) until `ready()` holds while the child still runs, then
 * kill it with SIGKILL.  Fails if the child ended by itself first. */
static void kill_when(pid_t pid, int (*ready)(void))
{
    int status;
    for (int k = 0; k < 6000 && !ready(); k++) {
        cr_assert_eq(waitpid(pid, &status, WNOHANG), 0,
                     "the command ended before it could be killed");
        sleep_ms(10);
    }
    cr_assert(ready(), "the command never reached the point to kill it");
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
}

static void assert_same_file(const char *a, const char *b)
{
    char pa[256], pb[256];
    size_t na, nb;
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    char *x = test_read_file(pa, &na), *y = test_read_file(pb, &nb);
    cr_assert(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* Every array of two datasets (trajectories) is identical, NaN for NaN. */
static void assert_same_dataset(const char *a, const char *b)
{
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    cgdml_dataset *x, *y;
    cr_assert_eq(cgdml_h5md_read(pa, NULL, &x), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(cgdml_h5md_read(pb, NULL, &y), CGDML_OK, "%s", cgdml_error_message());
    cr_assert(x->n_frames == y->n_frames && x->n_beads == y->n_beads);
    size_t n = x->n_frames * x->n_beads * 3;
    cr_assert_eq(memcmp(x->coords, y->coords, n * sizeof(double)), 0, "coordinates differ");
    cr_assert_eq(memcmp(x->forces, y->forces, n * sizeof(double)), 0, "forces differ");
    cr_assert_eq(memcmp(x->step, y->step, x->n_frames * sizeof *x->step), 0, "steps differ");
    cgdml_dataset_free(x);
    cgdml_dataset_free(y);
}

#define SIMULATE_ARGS                                                                         \
    "simulate --model m.h5 --data toy.h5 --replicas 8 --steps 150000 --save-every 500 "       \
    "--integrator %s --checkpoint-interval 0.2"

static int checkpoint_written(void)
{
    return exists("b.h5.checkpoint");
}

static void simulate_killed_and_resumed(const char *integrator)
{
    char args[512];
    cr_assert_eq(cgdml("synthetic --frames 300 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 40 --sigma 0.5 -o m.h5"), 0, "%s", output);
    snprintf(args, sizeof args, SIMULATE_ARGS, integrator);
    /* The user's earlier b.h5 (a short run) must survive the killed run. */
    cr_assert_eq(cgdml("%s --steps 1000 -o b.h5", args), 0, "%s", output);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/b.h5 %s/old.h5", dir, dir);
    cr_assert_eq(system(cmd), 0);

    cr_assert_eq(cgdml("%s -o a.h5", args), 0, "%s", output);
    cr_assert(!exists("a.h5.checkpoint"), "a finished run removes its checkpoint");

    char killed[600];
    snprintf(killed, sizeof killed, "%s -o b.h5", args);
    kill_when(start(killed), checkpoint_written);
    assert_same_file("b.h5", "old.h5");
    /* Without --resume the checkpoint is neither run over nor thrown away. */
    assert_refused(cgdml("%s -o b.h5", args), 1, "--resume");
    cr_assert(checkpoint_written());
    /* Another run's options are refused, naming the difference. */
    assert_refused(cgdml("%s --seed 2 --resume -o b.h5", args), 1, "seed 1 there, 2 here");
    assert_same_file("b.h5", "old.h5");

    cr_assert_eq(cgdml("%s --resume -o b.h5", args), 0, "%s", output);
    double step = field("resumed from step ");
    cr_assert(step >= 1 && step < 150000, "resumed from step %g", step);
    cr_assert(!exists("b.h5.checkpoint"));
    assert_same_dataset("a.h5", "b.h5");
    /* Only stale temporaries of the killed process may remain: none here. */
    cr_assert_eq(count_files(".", "tmp-"), 0, "a temporary file was left behind");
}

Test(kill, simulate_overdamped_resumes_bit_for_bit)
{
    simulate_killed_and_resumed("overdamped");
}

Test(kill, simulate_baoab_resumes_bit_for_bit)
{
    simulate_killed_and_resumed("baoab");
}

#define ENSEMBLE_ARGS                                                                         \
    "ensemble --data noisy.h5 --kmeans 30 --members 40 --n-train 120 --sigma1 8 "             \
    "--sigma2 4 --mean-set 30 --lambda 1e-6"

static int three_members_done(void)
{
    return count_files("e.h5.members", "member-") - count_files("e.h5.members", "tmp-") >= 3;
}

Test(kill, ensemble_killed_in_layer1_resumes_to_the_same_model)
{
    cr_assert_eq(cgdml("synthetic --frames 2000 --noise 10 -o noisy.h5"), 0, "%s", output);
    /* The user's earlier e.h5 (another model) must survive the killed run. */
    cr_assert_eq(cgdml("train --data noisy.h5 --n-train 30 --sigma 4 -o e.h5"), 0, "%s", output);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/e.h5 %s/old.h5", dir, dir);
    cr_assert_eq(system(cmd), 0);

    cr_assert_eq(cgdml(ENSEMBLE_ARGS " -o a.h5"), 0, "%s", output);
    kill_when(start(ENSEMBLE_ARGS " -o e.h5"), three_members_done);
    assert_same_file("e.h5", "old.h5");
    cr_assert(!exists("e.average.h5"), "no averaged model from a killed layer 1");
    int kept = count_files("e.h5.members", "member-") - count_files("e.h5.members", "tmp-");
    cr_assert(kept >= 3 && kept < 40, "%d members kept", kept);

    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --resume -o e.h5"), 0, "%s", output);
    const char *p = strstr(output, " of 40 members taken from");
    cr_assert_not_null(p, "%s", output);
    while (p > output && p[-1] >= '0' && p[-1] <= '9')
        p--;
    int taken = atoi(p);
    cr_assert(taken >= kept && taken < 40, "%d members taken, %d kept", taken, kept);
    cr_assert(!exists("e.h5.members"));
    cr_assert_eq(cgdml("predict --model a.h5 --data noisy.h5 -o fa.npy"), 0, "%s", output);
    cr_assert_eq(cgdml("predict --model e.h5 --data noisy.h5 -o fe.npy"), 0, "%s", output);
    assert_same_file("fa.npy", "fe.npy");
    cr_assert_eq(cgdml("predict --model a.average.h5 --data noisy.h5 -o ga.npy"), 0, "%s", output);
    cr_assert_eq(cgdml("predict --model e.average.h5 --data noisy.h5 -o ge.npy"), 0, "%s", output);
    assert_same_file("ga.npy", "ge.npy");
}

/* Plain CG on 800 shipped frames: about 1500 iterations, several seconds on one
 * thread, checkpointed every 0.1 s. */
#define TRAIN_CG_ARGS                                                                         \
    "train --data %s/datasets/ala2_cg6.h5 --n-train 800 --sigma 1 --lambda 1e-3 --solver cg " \
    "--preconditioner none --tolerance 1e-10 --max-iterations 100000 "                       \
    "--checkpoint-interval 0.1"

static int cg_checkpoint_written(void)
{
    return exists("c.h5.checkpoint");
}

Test(kill, train_cg_killed_resumes_to_the_same_model)
{
    char args[1024];
    snprintf(args, sizeof args, TRAIN_CG_ARGS, getenv("CGDML_SRC"));
    cr_assert_eq(cgdml("%s -o a.h5", args), 0, "%s", output);
    cr_assert(!exists("a.h5.checkpoint"), "a finished solve removes its checkpoint");

    char killed[1100];
    snprintf(killed, sizeof killed, "%s -o c.h5", args);
    kill_when(start(killed), cg_checkpoint_written);
    cr_assert(!exists("c.h5"), "no model from a killed solve");
    assert_refused(cgdml("%s -o c.h5", args), 1, "--resume");
    cr_assert_eq(cgdml("%s --resume -o c.h5", args), 0, "%s", output);
    double from = field("resumed from iteration ");
    cr_assert(from >= 1, "resumed from iteration %g", from);
    cr_assert(!exists("c.h5.checkpoint"));
    cr_assert_eq(cgdml("predict --model a.h5 --data %s/datasets/ala2_cg6.h5 --n-train 500 "
                       "-o fa.npy",
                       getenv("CGDML_SRC")),
                 0, "%s", output);
    cr_assert_eq(cgdml("predict --model c.h5 --data %s/datasets/ala2_cg6.h5 --n-train 500 "
                       "-o fc.npy",
                       getenv("CGDML_SRC")),
                 0, "%s", output);
    assert_same_file("fa.npy", "fc.npy");
    cr_assert_eq(count_files(".", "tmp-"), 0, "a temporary file was left behind");
}

/* cgdml_atomic_clean removes the temporaries of dead processes only. */
Test(kill, stale_temporaries_of_dead_processes_are_removed)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    const char *names[] = {"out.h5.tmp-%ld", "out.h5.checkpoint.tmp-%ld", "out.h5.tmp-1",
                           "other.h5.tmp-%ld", "out.h5"};
    long pids[] = {child, child, 1, child, 0};
    char path[600], name[64];
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof name, names[k], pids[k]);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/out.h5", dir);
    cr_assert_eq(cgdml_atomic_clean(path), 1, "only out.h5's temporary of the dead child");
    cr_assert_eq(count_files(".", "out.h5.tmp-"), 1, "the live process's (pid 1) stays");
    cr_assert_eq(count_files(".", "checkpoint.tmp-"), 1);
    cr_assert_eq(cgdml_atomic_clean(dir), 2, "in a folder: every dead process's temporary");
    cr_assert_eq(count_files(".", "tmp-"), 1);
    cr_assert(exists("out.h5"));
}
