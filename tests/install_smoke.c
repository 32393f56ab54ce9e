/* install_smoke.c -- compiled by tests/abi.sh against an installed librnn with nothing but
 * `cc install_smoke.c $(pkg-config --cflags --libs rnn)`: one training step and one sample. */
#include <rnn.h>
#include <stdio.h>

int main(void)
{
    if (rnn_version_number() != RNN_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", RNN_VERSION_STRING, rnn_version_string());
        return 1;
    }
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = 10, cfg.emb_size = 4, cfg.hidden_size = 4;
    rnn_model *m = NULL;
    rnn_sampling smp;
    rnn_sampling_init(&smp, sizeof smp);
    int32_t tok[6] = {1, 2, 3, 4, 5, 6}, tgt[6] = {2, 3, 4, 5, 6, 7}, next[2];
    double loss = 0;
    char err[256] = "";
    int rc = rnn_model_create(&m, &cfg, NULL, err, sizeof err);
    if (rc) {
        fprintf(stderr, "librnn: %s: %s\n", rnn_status_string(rc), err);
        return 1;
    }
    if (!rc) rc = rnn_model_reset_hidden(m, 2);
    if (!rc) rc = rnn_forward(m, tok, tgt, 2, 3, 0, &loss);
    if (!rc) rc = rnn_backward(m);
    if (!rc) rc = rnn_clip_grad_norm(m, 0.25f, NULL);
    if (!rc) rc = rnn_sgd_step(m, 1.0f);
    if (!rc) rc = rnn_sample(m, tok, 2, &smp, next);
    if (rc) fprintf(stderr, "librnn: %s: %s\n", rnn_status_string(rc), rnn_model_errmsg(m));
    else printf("install smoke: loss %.4f (ln 10 = 2.3026), sampled %d %d\n", loss, next[0], next[1]);
    rnn_model_free(m);
    return rc != 0;
}
