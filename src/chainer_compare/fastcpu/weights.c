/* Weights between Chainer's layout and the convolution kernels' (conv_kernels.c),
 * in blocks of 16 x 16 channels so that reads and writes both take whole cache
 * lines; run on pool.c's threads over blocks of output channels.
 */
#include "kernels.h"

/* out (Chainer's (cout, cin, kh, kw)) = the sum over p < nparts of parts[p]
 * ((kh, kw, cin, cout) each, the weight-gradient kernel's per-chunk buffers),
 * for output channels [c0, c1) (multiples of 16): the partial gradients added
 * in chunk order and transposed in one threaded pass instead of nparts - 1
 * NumPy additions and a transposing copy on one thread.  Blocks of 16 output
 * x 16 input channels go through a small buffer, so reads take whole cache
 * lines of output channels and writes whole runs of (ci, ky, kx). */
void sum_parts_to_oihw(const float *parts, float *out, int nparts, int c0, int c1,
                       int cin, int kh, int kw, int cout)
{
    enum { B = 16 };
    long part = (long)kh * kw * cin * cout;
    int taps = kh * kw;
    float tile[B][B * taps];
    for (int co = c0; co < c1; co += B)
        for (int ci0 = 0; ci0 < cin; ci0 += B) {
            int nci = cin - ci0 < B ? cin - ci0 : B;
            for (int k = 0; k < taps; k++)
                for (int i = 0; i < nci; i++) {
                    const float *src = parts + ((long)k * cin + ci0 + i) * cout + co;
                    v16 sum = *(const v16 *)src;
                    for (int p = 1; p < nparts; p++) sum += *(const v16 *)(src + p * part);
                    for (int j = 0; j < B; j++) tile[j][i * taps + k] = sum[j];
                }
            for (int j = 0; j < B; j++)
                __builtin_memcpy(out + ((long)(co + j) * cin + ci0) * taps, tile[j],
                                 sizeof(float) * nci * taps);
        }
}

/* Chainer's weights W (cout, cin, kh, kw) in the kernels' layout, for output
 * channels [c0, c1) (multiples of 16): (kh, kw, cin, cout) for the forward
 * pass, or with flip, (kh, kw, cout, cin) with the taps reversed, the data
 * gradient's flipped kernel.  The same 16 x 16-channel blocks as
 * sum_parts_to_oihw, in the other direction. */
void oihw_to_kernel_layout(const float *W, float *w, int c0, int c1, int cin, int kh, int kw,
                           int cout, int flip)
{
    enum { B = 16 };
    int taps = kh * kw;
    float tile[B][B * taps];
    for (int co = c0; co < c1; co += B)
        for (int ci0 = 0; ci0 < cin; ci0 += B) {
            int nci = cin - ci0 < B ? cin - ci0 : B;
            for (int j = 0; j < B; j++)
                __builtin_memcpy(tile[j], W + ((long)(co + j) * cin + ci0) * taps,
                                 sizeof(float) * nci * taps);
            for (int k = 0; k < taps; k++)
                for (int i = 0; i < nci; i++) {
                    if (flip)
                        for (int j = 0; j < B; j++)
                            w[((long)(taps - 1 - k) * cout + co + j) * cin + ci0 + i] =
                                tile[j][i * taps + k];
                    else
                        for (int j = 0; j < B; j++)
                            w[((long)k * cin + ci0 + i) * cout + co + j] = tile[j][i * taps + k];
                }
        }
}
