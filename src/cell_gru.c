/*
 * cell_gru.c -- PyTorch's nn.GRU, gates in the order r, z, n:
 *     r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *     z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *     n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *     h' = (1 - z) * n + z * h
 * Cache: the activated gates r, z, n (T,B,3H), W_hn h + b_hn (T,B,H), and one step's
 * W_hh h product (B,3H) used during forward.
 */
#include "blas.h"
#include "cell.h"
#include "kernels.h"

#include <string.h>

static size_t gru_cache_size(int B, int T, int H) { return (size_t)T * B * H * 4 + (size_t)B * H * 3; }

/* backward: dGx and dGh (T,B,3H) each, two (B,H) recurrent buffers */
static size_t gru_scratch_size(int B, int T, int H) { return (size_t)T * B * H * 6 + (size_t)B * H * 2; }

static void gru_forward(const rnn__layer *l)
{
    int B = l->B, T = l->T, H = l->H;
    size_t BH = (size_t)B * H, H3 = (size_t)3 * H;
    float *gates = l->cache, *hn = gates + (size_t)T * BH * 3, *gh = hn + (size_t)T * BH;
    rnn__layer_input_gemm(l, 3, gates);
    const float *br = l->b_hh, *bz = br + H, *bn = bz + H;
    for (int t = 0; t < T; t++) {
        const float *hp = t ? l->y + (t - 1) * BH : l->h0;
        rnn__layer_hh_gemm(l, 3 * H, hp, 0.0f, gh);
        for (int b = 0; b < B; b++) {
            float *gr = gates + t * BH * 3 + b * H3, *gz = gr + H, *gn = gz + H;
            const float *hr = gh + b * H3, *hz = hr + H, *hnn = hz + H;
            size_t o = t * BH + (size_t)b * H;
            for (int j = 0; j < H; j++) gr[j] += hr[j], gz[j] += hz[j], hn[o + j] = hnn[j] + bn[j];
            rnn__k_sigmoid_bias(gr, br, H);
            rnn__k_sigmoid_bias(gz, bz, H);
            for (int j = 0; j < H; j++) {
                float rh = gr[j] * hn[o + j];
                gn[j] += rh;
            }
            rnn__k_tanh(gn, gn, H);
            const float *hpb = hp + (size_t)b * H;
            for (int j = 0; j < H; j++) {
                float zn = (1.0f - gz[j]) * gn[j], zh = gz[j] * hpb[j];
                l->y[o + j] = zn + zh;
            }
        }
    }
    memcpy(l->hT, l->y + (T - 1) * BH, BH * sizeof(float));
}

static void gru_backward(const rnn__layer *l)
{
    int B = l->B, T = l->T, H = l->H;
    size_t BH = (size_t)B * H, H3 = (size_t)3 * H;
    const float *gates = l->cache, *hn = gates + (size_t)T * BH * 3;
    float *dgx = l->scratch, *dgh = dgx + (size_t)T * BH * 3;
    float *dh = dgh + (size_t)T * BH * 3, *dnext = dh + BH;
    memset(dh, 0, BH * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        const float *hp = t ? l->y + (t - 1) * BH : l->h0;
        for (int b = 0; b < B; b++) {
            const float *gr = gates + t * BH * 3 + b * H3, *gz = gr + H, *gn = gz + H;
            float *xr = dgx + t * BH * 3 + b * H3, *xz = xr + H, *xn = xz + H;
            float *hr = dgh + t * BH * 3 + b * H3, *hz = hr + H, *hnn = hz + H;
            size_t o = t * BH + (size_t)b * H;
            for (int j = 0; j < H; j++) {
                float r = gr[j], z = gz[j], n = gn[j], h = hp[(size_t)b * H + j];
                float dht = l->dy[o + j] + dh[(size_t)b * H + j];
                float dnp = dht * (1.0f - z) * (1.0f - n * n);
                float drp = dnp * hn[o + j] * r * (1.0f - r);
                float dzp = dht * (h - n) * z * (1.0f - z);
                xr[j] = hr[j] = drp;
                xz[j] = hz[j] = dzp;
                xn[j] = dnp;
                hnn[j] = dnp * r;
                dnext[(size_t)b * H + j] = dht * z;
            }
        }
        /* dh (B,H) = dht * z + dGh_t (B,3H) * W_hh (3H,H) */
        rnn__gemm(NULL, 0, 0, B, H, 3 * H, 1.0f, dgh + t * BH * 3, 3 * H, l->w_hh, H, 1.0f, dnext, H);
        float *swap = dh;
        dh = dnext, dnext = swap;
    }
    memcpy(l->dh0, dh, BH * sizeof(float));
    rnn__layer_weight_grads(l, 3, dgx, dgh);
}

const rnn__cell rnn__cell_gru = {"GRU", 3, gru_cache_size, gru_scratch_size, gru_forward, gru_backward};
