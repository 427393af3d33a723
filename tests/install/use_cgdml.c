/* use_cgdml.c - a program outside the tree that uses an installed libcgdml through
 * pkg-config (checked by `make test`): trains a small model on the toy system and
 * checks it reproduces its training forces.
 */
#include <cgdml.h>
#include <math.h>
#include <stdio.h>

int main(void)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cgdml_model *model;
    size_t idx[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    double f[18];
    if (cgdml_harmonic_network_alloc(6, 20.0, 1, &net) ||
        cgdml_harmonic_network_sample(net, 10, 0.1, 0.0, 2, &data) ||
        cgdml_model_train(data, idx, 10, 0.5, 1e-10, NULL, &model)) {
        fprintf(stderr, "use_cgdml: %s\n", cgdml_error_message());
        return 1;
    }
    cgdml_model_predict(model, 1, data->coords, f, NULL);
    double worst = 0.0;
    for (int a = 0; a < 18; a++)
        worst = fmax(worst, fabs(f[a] - data->forces[a]));
    printf("installed libcgdml: trained on %zu frames, training-force error %.2e\n",
           model->n_train, worst);
    cgdml_model_free(model);
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
    return worst < 1e-5 ? 0 : 1; /* forces are O(10) kcal/mol/Å */
}
