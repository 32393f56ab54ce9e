/*
 * cell_lstm.c -- PyTorch's nn.LSTM, gates in the order i, f, g, o:
 *     [i f g o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
 *     i, f, o = sigmoid(.), g = tanh(.)
 *     c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 * Cache: the activated gates (T,B,4H), c_t (T,B,H) and tanh(c_t) (T,B,H).
 */
#include "blas.h"
#include "cell.h"
#include "kernels.h"

#include <string.h>

static size_t lstm_cache_size(int B, int T, int H) { return (size_t)T * B * H * 6; }

/* backward: dG (T,B,4H), dh and dc (B,H) */
static size_t lstm_scratch_size(int B, int T, int H) { return (size_t)T * B * H * 4 + (size_t)B * H * 2; }

static void lstm_forward(const rnn__layer *l)
{
    int B = l->B, T = l->T, H = l->H;
    size_t BH = (size_t)B * H, H4 = (size_t)4 * H;
    float *gates = l->cache, *cs = gates + (size_t)T * BH * 4, *tcs = cs + (size_t)T * BH;
    rnn__layer_input_gemm(l, 4, gates);
    const float *bi = l->b_hh, *bf = bi + H, *bg = bf + H, *bo = bg + H;
    for (int t = 0; t < T; t++) {
        const float *hp = t ? l->y + (t - 1) * BH : l->h0;
        const float *cp = t ? cs + (t - 1) * BH : l->c0;
        float *gt = gates + t * BH * 4;
        rnn__layer_hh_gemm(l, 4 * H, hp, 1.0f, gt);
        for (int b = 0; b < B; b++) {
            float *gi = gt + b * H4, *gf = gi + H, *gg = gf + H, *go = gg + H;
            size_t o = t * BH + (size_t)b * H;
            rnn__k_sigmoid_bias(gi, bi, H);
            rnn__k_sigmoid_bias(gf, bf, H);
            rnn__k_tanh_bias(gg, bg, H);
            rnn__k_sigmoid_bias(go, bo, H);
            const float *cpb = cp + (size_t)b * H;
            for (int j = 0; j < H; j++) {
                float fc = gf[j] * cpb[j], ig = gi[j] * gg[j];
                cs[o + j] = fc + ig;
            }
            rnn__k_tanh(tcs + o, cs + o, H);
            for (int j = 0; j < H; j++) l->y[o + j] = go[j] * tcs[o + j];
        }
    }
    memcpy(l->hT, l->y + (T - 1) * BH, BH * sizeof(float));
    memcpy(l->cT, cs + (T - 1) * BH, BH * sizeof(float));
}

static void lstm_backward(const rnn__layer *l)
{
    int B = l->B, T = l->T, H = l->H;
    size_t BH = (size_t)B * H, H4 = (size_t)4 * H;
    const float *gates = l->cache, *cs = gates + (size_t)T * BH * 4, *tcs = cs + (size_t)T * BH;
    float *dg = l->scratch, *dh = dg + (size_t)T * BH * 4, *dc = dh + BH;
    memset(dh, 0, 2 * BH * sizeof(float)); /* dh and dc */
    for (int t = T - 1; t >= 0; t--) {
        const float *cp = t ? cs + (t - 1) * BH : l->c0;
        for (int b = 0; b < B; b++) {
            const float *gi = gates + t * BH * 4 + b * H4, *gf = gi + H, *gg = gf + H, *go = gg + H;
            float *di = dg + t * BH * 4 + b * H4, *df = di + H, *dgg = df + H, *dog = dgg + H;
            size_t o = t * BH + (size_t)b * H;
            for (int j = 0; j < H; j++) {
                float i = gi[j], f = gf[j], g = gg[j], og = go[j], tc = tcs[o + j];
                float dht = l->dy[o + j] + dh[(size_t)b * H + j];
                float dct = dc[(size_t)b * H + j] + dht * og * (1.0f - tc * tc);
                di[j] = dct * g * i * (1.0f - i);
                df[j] = dct * cp[(size_t)b * H + j] * f * (1.0f - f);
                dgg[j] = dct * i * (1.0f - g * g);
                dog[j] = dht * tc * og * (1.0f - og);
                dc[(size_t)b * H + j] = dct * f;
            }
        }
        /* dh (B,H) = dG_t (B,4H) * W_hh (4H,H) */
        rnn__gemm(NULL, 0, 0, B, H, 4 * H, 1.0f, dg + t * BH * 4, 4 * H, l->w_hh, H, 0.0f, dh, H);
    }
    memcpy(l->dh0, dh, BH * sizeof(float));
    memcpy(l->dc0, dc, BH * sizeof(float));
    rnn__layer_weight_grads(l, 4, dg, dg);
}

const rnn__cell rnn__cell_lstm = {"LSTM", 4, lstm_cache_size, lstm_scratch_size, lstm_forward, lstm_backward};
