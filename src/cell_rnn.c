/*
 * cell_rnn.c -- Elman RNN, PyTorch's nn.RNN with nonlinearity 'tanh' or 'relu':
 *     h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
 * Nothing is cached beyond the outputs y: act'(pre) is recovered from y (1 - y^2, or y > 0).
 * relu keeps NaN as torch.relu does, and its gradient passes through a NaN output (torch's
 * threshold_backward zeroes only where y <= 0), so a NaN weight gives a NaN loss, not a finite one.
 */
#include "blas.h"
#include "cell.h"
#include "kernels.h"

#include <string.h>

static size_t rnn__cache_size(int B, int T, int H) { (void)B, (void)T, (void)H; return 0; }

/* backward: dG (T*B, H) and the recurrent gradient (B, H) */
static size_t rnn__scratch_size(int B, int T, int H) { return (size_t)T * B * H + (size_t)B * H; }

static void forward(const rnn__layer *l, int relu)
{
    int B = l->B, T = l->T, H = l->H;
    size_t BH = (size_t)B * H;
    rnn__layer_input_gemm(l, 1, l->y); /* y_t = x_t W_ih^T + b_ih, all steps */
    for (int t = 0; t < T; t++) {
        const float *hp = t ? l->y + (t - 1) * BH : l->h0;
        float *yt = l->y + t * BH;
        rnn__layer_hh_gemm(l, H, hp, 1.0f, yt);
        for (int b = 0; b < B; b++) {
            float *row = yt + (size_t)b * H;
            if (!relu) {
                rnn__k_tanh_bias(row, l->b_hh, H);
                continue;
            }
            for (int j = 0; j < H; j++) {
                float v = row[j] + l->b_hh[j];
                row[j] = v > 0.0f || v != v ? v : 0.0f;
            }
        }
    }
    memcpy(l->hT, l->y + (T - 1) * BH, BH * sizeof(float));
}

static void backward(const rnn__layer *l, int relu)
{
    int B = l->B, T = l->T, H = l->H;
    size_t BH = (size_t)B * H;
    float *dg = l->scratch;               /* (T,B,H) d(loss)/d(pre-activation) */
    float *dh = dg + (size_t)T * BH;      /* (B,H) gradient arriving from step t+1 */
    memset(dh, 0, BH * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        const float *yt = l->y + t * BH, *dyt = l->dy + t * BH;
        float *dgt = dg + t * BH;
        for (size_t i = 0; i < BH; i++) {
            float d = dyt[i] + dh[i], y = yt[i];
            dgt[i] = relu ? (y > 0.0f || y != y ? d : 0.0f) : d * (1.0f - y * y);
        }
        /* dh (B,H) = dg_t (B,H) * W_hh (H,H) */
        rnn__gemm(NULL, 0, 0, B, H, H, 1.0f, dgt, H, l->w_hh, H, 0.0f, dh, H);
    }
    memcpy(l->dh0, dh, BH * sizeof(float));
    rnn__layer_weight_grads(l, 1, dg, dg);
}

static void tanh_forward(const rnn__layer *l) { forward(l, 0); }
static void tanh_backward(const rnn__layer *l) { backward(l, 0); }
static void relu_forward(const rnn__layer *l) { forward(l, 1); }
static void relu_backward(const rnn__layer *l) { backward(l, 1); }

const rnn__cell rnn__cell_tanh = {"RNN_TANH", 1, rnn__cache_size, rnn__scratch_size, tanh_forward, tanh_backward};
const rnn__cell rnn__cell_relu = {"RNN_RELU", 1, rnn__cache_size, rnn__scratch_size, relu_forward, relu_backward};
