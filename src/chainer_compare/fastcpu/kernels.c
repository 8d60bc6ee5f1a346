/* Batch normalization, spatial padding, ReLU and max pooling kernels for
 * channels-last float32 arrays (the convolutions are in conv_kernels.c).
 */
#include "kernels.h"

/* ---- Batch normalization over the rows of an (R, C) channels-last array ----
 * C is a multiple of 8.  Sums are taken in float32 over blocks of 64 rows and
 * added up in float64, so the statistics of 10^6 rows keep float32 accuracy.
 * With relu, y is max(y, 0) and the backward pass masks gy with y > 0. */
#define ROW_BLOCK 64

/* sums[0:C] = sum of s_, sums[C:2C] = sum of q_ over rows r0..r1-1, where the
 * statement ROW sets the 8-channel vectors s_ and q_ of row r, channels j..j+7;
 * float32 over blocks of ROW_BLOCK rows, float64 across them. */
#define ROW_SUMS(sums, r0, r1, c, ROW)                                            \
    do {                                                                          \
        for (int j = 0; j < 2 * (c); j++) (sums)[j] = 0;                          \
        for (long rb = (r0); rb < (r1); rb += ROW_BLOCK) {                        \
            long re = rb + ROW_BLOCK < (r1) ? rb + ROW_BLOCK : (r1);              \
            for (int j = 0; j < (c); j += 8) {                                    \
                v8 s = {0}, q = {0};                                              \
                for (long r = rb; r < re; r++) {                                  \
                    v8 s_, q_;                                                    \
                    ROW;                                                          \
                    s += s_;                                                      \
                    q += q_;                                                      \
                }                                                                 \
                for (int t = 0; t < 8; t++) {                                     \
                    (sums)[j + t] += s[t];                                        \
                    (sums)[(c) + j + t] += q[t];                                  \
                }                                                                 \
            }                                                                     \
        }                                                                         \
    } while (0)

/* sums[0:C] = sum x, sums[C:2C] = sum x^2 over rows r0..r1-1 */
void bn_stats(const float *x, double *sums, long r0, long r1, int c)
{
    ROW_SUMS(sums, r0, r1, c, { s_ = LD(x + r * c + j); q_ = s_ * s_; });
}

/* x * scale + shift: one function for the forward pass and for the ReLU mask
 * backward recomputes from x, so both round (and contract to FMA) alike and
 * the mask is exactly y > 0 without keeping y. */
static inline v8 affine(v8 x, v8 scale, v8 shift) { return x * scale + shift; }

/* g, or g where x * scale + shift > 0 (the ReLU after BN) when scale != NULL */
static inline v8 relu_masked(v8 g, const float *x, const float *scale, const float *shift)
{
    return scale ? WHERE_POS(affine(LD(x), LD(scale), LD(shift)), g) : g;
}

/* y = x * scale + shift per channel (then max(., 0) with relu) */
void bn_apply(const float *x, float *y, const float *scale, const float *shift,
              long r0, long r1, int c, int relu)
{
    for (long r = r0; r < r1; r++)
        for (int j = 0; j < c; j += 8) {
            v8 v = affine(LD(x + r * c + j), LD(scale + j), LD(shift + j));
            if (relu) v = WHERE_POS(v, v);
            ST(y + r * c + j, v);
        }
}

/* sums[0:C] = sum g, sums[C:2C] = sum g * x, with g = gy, masked by the
 * forward's ReLU (x * scale + shift > 0) when scale != NULL */
void bn_grad_stats(const float *gy, const float *x, const float *scale, const float *shift,
                   double *sums, long r0, long r1, int c)
{
    ROW_SUMS(sums, r0, r1, c, {
        s_ = relu_masked(LD(gy + r * c + j), x + r * c + j, scale ? scale + j : 0,
                         shift ? shift + j : 0);
        q_ = s_ * LD(x + r * c + j);
    });
}

/* gx = a * g + b * x + d per channel, g as in bn_grad_stats */
void bn_grad_apply(const float *gy, const float *x, const float *scale, const float *shift,
                   float *gx, const float *a, const float *b, const float *d,
                   long r0, long r1, int c)
{
    for (long r = r0; r < r1; r++)
        for (int j = 0; j < c; j += 8) {
            v8 g = relu_masked(LD(gy + r * c + j), x + r * c + j, scale ? scale + j : 0,
                               shift ? shift + j : 0);
            ST(gx + r * c + j, LD(a + j) * g + LD(b + j) * LD(x + r * c + j) + LD(d + j));
        }
}

/* ---- Spatial padding of NHWC arrays: images n0..n1-1 ----
 * dst (N, h + top + bottom, w + left + right, c) gets src (N, h, w, c) in its
 * interior and value around it, in one pass (NumPy needs a strided fill per
 * border plus a strided copy). */
void pad_nhwc(const float *src, float *dst, int n0, int n1, int h, int w, int c,
              int top, int left, int bottom, int right, float value)
{
    long row = (long)w * c, prow = (long)(w + left + right) * c;
    int hp = h + top + bottom;
    for (long n = n0; n < n1; n++)
        for (int r = 0; r < hp; r++) {
            float *d = dst + (n * hp + r) * prow;
            int inside = r >= top && r < top + h;
            long lo = inside ? (long)left * c : prow, hi = inside ? lo + row : prow;
            for (long i = 0; i < lo; i++) d[i] = value;
            if (inside) __builtin_memcpy(d + lo, src + (n * h + r - top) * row, row * 4);
            for (long i = hi; i < prow; i++) d[i] = value;
        }
}

/* ---- Element-wise helpers on flat float32 arrays, elements i0..i1-1 ---- */

/* out = max(a + b, 0) */
void add_relu(const float *a, const float *b, float *out, long i0, long i1)
{
    for (long i = i0; i < i1; i++) {
        float v = a[i] + b[i];
        out[i] = v > 0 ? v : 0;
    }
}

/* out = y > 0 ? g : 0 */
void relu_grad(const float *y, const float *g, float *out, long i0, long i1)
{
    for (long i = i0; i < i1; i++) out[i] = y[i] > 0 ? g[i] : 0;
}

/* out = max(x, 0) */
void relu_forward(const float *x, float *out, long i0, long i1)
{
    for (long i = i0; i < i1; i++) out[i] = x[i] > 0 ? x[i] : 0;
}

/* ---- Max pooling on NHWC arrays (C a multiple of 8), Chainer's semantics ----
 * Outside the input counts as -inf (Chainer's padding and cover_all); the
 * winner is the first maximum in row-major window order (strictly greater
 * replaces), stored as ky * kw + kx in one byte per output element. */
typedef unsigned char vu8 __attribute__((vector_size(8)));

void max_pool_forward(const float *x, float *y, unsigned char *win, int n0, int n1,
                      int h, int w, int c, int kh, int kw, int sy, int sx, int ph, int pw,
                      int ho, int wo)
{
    for (long n = n0; n < n1; n++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                int y0 = oy * sy - ph, x0 = ox * sx - pw;
                long o = ((n * ho + oy) * wo + ox) * c;
                for (int j = 0; j < c; j += 8) {
                    v8 best = {-__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                               -__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                               -__builtin_inff(), -__builtin_inff()};
                    vi8 arg = {0};
                    for (int ky = 0; ky < kh; ky++) {
                        int iy = y0 + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int kx = 0; kx < kw; kx++) {
                            int ix = x0 + kx;
                            if (ix < 0 || ix >= w) continue;
                            v8 v = LD(x + ((n * h + iy) * w + ix) * c + j);
                            vi8 up = v > best;
                            best = (v8)((up & (vi8)v) | (~up & (vi8)best));
                            arg = (up & (ky * kw + kx)) | (~up & arg);
                        }
                    }
                    ST(y + o + j, best);
                    *(vu8 *)(win + o + j) = __builtin_convertvector(arg, vu8);
                }
            }
}

/* gx (zeroed here) += gy routed to each output's winner; images n0..n1-1 */
void max_pool_backward(const float *gy, const unsigned char *win, float *gx, int n0, int n1,
                       int h, int w, int c, int kh, int kw, int sy, int sx, int ph, int pw,
                       int ho, int wo)
{
    long image = (long)h * w * c;
    for (long i = n0 * image; i < n1 * image; i++) gx[i] = 0;
    for (long n = n0; n < n1; n++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                long o = ((n * ho + oy) * wo + ox) * c;
                for (int j = 0; j < c; j++) {
                    int k = win[o + j];
                    int iy = oy * sy - ph + k / kw, ix = ox * sx - pw + k % kw;
                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)  /* else: a -inf window */
                        gx[((n * h + iy) * w + ix) * c + j] += gy[o + j];
                }
            }
}

/* ---- Dropout masks from NumPy's legacy MT19937 stream, exactly ----
 * NumPy's random_sample draws each double from two tempered MT19937 words,
 * (a >> 5) * 2^26 + (b >> 6) over 2^53, one function call per word; here the
 * 624-word state is twisted and tempered in vectorizable loops and each pair
 * compared as an integer with the threshold, so a mask costs a fraction of
 * NumPy's draw (the same numbers: the caller hands the state back to NumPy). */
#include <stdint.h>
#define MT_N 624
#define MT_M 397
#define MT_TWIST(u, v, w) ((w) ^ ((((u) & 0x80000000u) | ((v) & 0x7fffffffu)) >> 1) \
                          ^ (-((v) & 1u) & 0x9908b0dfu))

static void mt_twist(uint32_t *key)
{
    for (int i = 0; i < MT_N - MT_M; i++) key[i] = MT_TWIST(key[i], key[i + 1], key[i + MT_M]);
    for (int i = MT_N - MT_M; i < MT_N - 1; i++)
        key[i] = MT_TWIST(key[i], key[i + 1], key[i + MT_M - MT_N]);
    key[MT_N - 1] = MT_TWIST(key[MT_N - 1], key[0], key[MT_M - 1]);
}

static void mt_temper(const uint32_t *key, uint32_t *out, int from)
{
    for (int i = from; i < MT_N; i++) {
        uint32_t y = key[i];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        out[i - from] = y ^ (y >> 18);
    }
}

/* mask[i0, i1, i2, i3] (element strides s0..s3) = scale where the double
 * random_sample would draw for that element, in C order of the shape
 * (d0, d1, d2, d3), is >= ratio (threshold = ceil(ratio * 2^53)), else 0.
 * key/pos: NumPy's MT19937 state, advanced in place; returns the new pos.
 * The stream is taken a state (624 words) at a time: twisted and tempered,
 * its pairs compared into vals in one vectorizable loop, then written out. */
int dropout_mask(uint32_t *key, int pos, float *mask, int d0, int d1, int d2, int d3,
                 long s0, long s1, long s2, long s3, uint64_t threshold, float scale)
{
    uint32_t words[MT_N + 1];
    float vals[MT_N / 2 + 1];
    long total = (long)d0 * d1 * d2 * d3, done = 0;
    long a = 0, b = 0, c = 0, d = 0;  /* the next element's index */
    int have = 0;  /* words carried over (0 or 1: half of a pair) */
    while (done < total) {
        if (pos == MT_N) {
            mt_twist(key);
            pos = 0;
        }
        mt_temper(key, words + have, pos);
        int avail = have + MT_N - pos;
        long pairs = avail / 2;
        if (pairs > total - done) pairs = total - done;
        for (long k = 0; k < pairs; k++) {
            uint64_t v = (uint64_t)(words[2 * k] >> 5) << 26 | (words[2 * k + 1] >> 6);
            vals[k] = v >= threshold ? scale : 0.0f;
        }
        int used = (int)(2 * pairs) - have;  /* words of this state consumed */
        pos += used;
        have = 0;
        if (pairs < total - done && avail % 2) {  /* half a pair: finish it next state */
            words[0] = words[avail - 1];
            have = 1;
            pos = MT_N;
        }
        for (long k = 0; k < pairs; k++) {
            mask[a * s0 + b * s1 + c * s2 + d * s3] = vals[k];
            if (++d == d3) {
                d = 0;
                if (++c == d2) {
                    c = 0;
                    if (++b == d1) { b = 0; a++; }
                }
            }
        }
        done += pairs;
    }
    return pos;
}
