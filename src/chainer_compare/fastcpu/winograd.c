/* Winograd F(2x2, 3x3) convolution of 3x3, stride-1 layers (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
 *
 * Why: the direct kernels (conv_kernels.c) already run 3x3 layers near the
 * machine's float32 GEMM peak, so the next step is less arithmetic.  A 2x2
 * block of outputs of one channel pair needs 36 multiply-adds directly and
 * 16 here: the input's 4x4 window d and the kernel g are transformed
 * (B^T d B, G g G^T), multiplied element by element, summed over input
 * channels, and transformed back (A^T m A).  Summed over input channels,
 * each of the 16 elements is a GEMM, so per block of tiles (4x4 windows 2
 * pixels apart):
 *   V[k][t][ci] = (B^T d_t B)[k]    input transform, k = 4 * row + column
 *   M[k] = V[k] @ U[k]              16 GEMMs, (tiles x cin) @ (cin x cout), on
 *                                   conv_kernels.c's register tiles (tile_gemm)
 *   y = A^T M A + b (+ acc, ReLU)   output transform, one 2x2 block per tile
 * with U[k][ci][co] = (G g G^T)[k] computed once per call (winograd_weights).
 * The transforms' coefficients are 0, +-1 and 1/2, so float32 rounding stays
 * within a few times the direct sum's (tests compare with chainer.functions).
 *
 * Layouts as conv_kernels.c: x NHWC (N, h, w, cin), unpadded (the window
 * origin of tile (ty, tx) is (2 ty - top, 2 tx - left); pixels outside are
 * zeros); w (3, 3, cin, cout); y written at n * yimg + oy * yrow + ox * ypix.
 * cin and cout are multiples of 8 (the Python side requires 16).
 */

#include "kernels.h"

/* conv_kernels.c's register tiles as GEMMs, its bias-gradient sum and its
 * per-thread scratch buffer. */
float *thread_scratch(long need);
void tile_gemm(const float *A, const float *B, float *C, int rows, int k, int cout);
void tile_gemm_tn(const float *A, const float *B, float *C, int rows, int k, int cout);
void bias_gradient(const float *gy, double *gb, long n0, long n1, long pixels, int cout);

/* The kernel transform of F(2x2, 3x3). */
static const float G[4][3] = {{1, 0, 0}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0, 0, 1}};

/* U[k][ci][co] = (G g G^T)[k] for input channels [c0, c1) of w (3, 3, cin, cout). */
void winograd_weights(const float *w, float *U, int c0, int c1, int cin, int cout)
{
    long plane = (long)cin * cout;
    for (long ci = c0; ci < c1; ci++)
        for (int co = 0; co < cout; co += 8) {
            v8 g[3][3], t[4][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) g[i][j] = LD(w + (i * 3 + j) * plane + ci * cout + co);
            for (int a = 0; a < 4; a++)
                for (int j = 0; j < 3; j++)
                    t[a][j] = G[a][0] * g[0][j] + G[a][1] * g[1][j] + G[a][2] * g[2][j];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    ST(U + (a * 4 + b) * plane + ci * cout + co,
                       G[b][0] * t[a][0] + G[b][1] * t[a][1] + G[b][2] * t[a][2]);
        }
}

/* B^T d B of the 4x4 window at (iy, ix) of image x (h, w, cin), zeros
 * outside it (read from zeros, cin floats), into V[k * kstride + ci]. */
static void input_tile(const float *x, const float *zeros, int h, int w, int cin, int iy,
                       int ix, float *V, long kstride)
{
    const float *p[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int yy = iy + i, xx = ix + j;
            p[i][j] = yy >= 0 && yy < h && xx >= 0 && xx < w ? x + ((long)yy * w + xx) * cin
                                                             : zeros;
        }
    for (int c = 0; c < cin; c += 8) {
        v8 d[4][4], t[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) d[i][j] = LD(p[i][j] + c);
        for (int j = 0; j < 4; j++) {  /* B^T d: rows */
            t[0][j] = d[0][j] - d[2][j];
            t[1][j] = d[1][j] + d[2][j];
            t[2][j] = d[2][j] - d[1][j];
            t[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; i++) {  /* (B^T d) B: columns */
            float *v = V + i * 4 * kstride + c;
            ST(v, t[i][0] - t[i][2]);
            ST(v + kstride, t[i][1] + t[i][2]);
            ST(v + 2 * kstride, t[i][2] - t[i][1]);
            ST(v + 3 * kstride, t[i][1] - t[i][3]);
        }
    }
}

/* The ny x nx (<= 2 x 2) outputs A^T m A + b (+ acc, then ReLU) of one tile
 * from M[k * kstride + co], stored at y (and acc) + oy * yrow + ox * ypix. */
static void output_tile(const float *M, long kstride, int cout, const float *b, float *y,
                        const float *acc, long yrow, long ypix, int ny, int nx, int relu)
{
    for (int c = 0; c < cout; c += 8) {
        v8 m[4][4], t[2][4], o[2][2];
        for (int k = 0; k < 16; k++) m[k / 4][k % 4] = LD(M + k * kstride + c);
        for (int j = 0; j < 4; j++) {  /* A^T m: rows */
            t[0][j] = m[0][j] + m[1][j] + m[2][j];
            t[1][j] = m[1][j] - m[2][j] - m[3][j];
        }
        v8 bias = b ? LD(b + c) : (v8){0};
        for (int i = 0; i < 2; i++) {  /* (A^T m) A: columns */
            o[i][0] = t[i][0] + t[i][1] + t[i][2] + bias;
            o[i][1] = t[i][1] - t[i][2] - t[i][3] + bias;
        }
        for (int i = 0; i < ny; i++)
            for (int j = 0; j < nx; j++) {
                long at = i * yrow + j * ypix + c;
                v8 v = acc ? o[i][j] + LD(acc + at) : o[i][j];
                ST(y + at, relu ? WHERE_POS(v, v) : v);
            }
    }
}

/* Tiles per block: V and M together (16 x tiles x (cin + cout) floats) in
 * about this many bytes, so each block's transforms and GEMMs stay in L2. */
#ifndef WINOGRAD_BLOCK_BYTES
#define WINOGRAD_BLOCK_BYTES (768L * 1024)
#endif

/* Tile t of images n0.. (th x tw tiles each): its image and output origin. */
static void tile_at(long t, int n0, long per_image, int tw, long *n, int *oy, int *ox)
{
    long r = t % per_image;
    *n = n0 + t / per_image;
    *oy = 2 * (int)(r / tw);
    *ox = 2 * (int)(r % tw);
}

/* y = conv(x padded by (top, left), w) + b (+ acc, then ReLU), the 3x3
 * stride-1 convolution of conv_forward_acc, for images n0..n1-1, from U =
 * winograd_weights(w).  Tiles of all these images are taken in blocks. */
void winograd_forward(const float *x, const float *U, const float *b, float *y, int n0, int n1,
                      int h, int w, int cin, int ho, int wo, int cout, long yimg, long yrow,
                      long ypix, const float *acc, int top, int left, int relu)
{
    int th = (ho + 1) / 2, tw = (wo + 1) / 2;
    long per_image = (long)th * tw, total = (n1 - n0) * per_image;
    long tb = WINOGRAD_BLOCK_BYTES / (16L * (cin + cout) * 4);
    tb = tb < 12 ? 12 : tb / 12 * 12;  /* whole register tiles of rows */
    float *V = thread_scratch(16 * tb * (cin + cout) + cin), *M = V + 16 * tb * cin;
    float *zeros = M + 16 * tb * cout;
    for (int c = 0; c < cin; c++) zeros[c] = 0;
    for (long t0 = 0; t0 < total; t0 += tb) {
        int nt = total - t0 < tb ? (int)(total - t0) : (int)tb;
        for (int t = 0; t < nt; t++) {
            long n;
            int oy, ox;
            tile_at(t0 + t, n0, per_image, tw, &n, &oy, &ox);
            input_tile(x + n * h * (long)w * cin, zeros, h, w, cin, oy - top, ox - left,
                       V + (long)t * cin, tb * cin);
        }
        for (int k = 0; k < 16; k++)
            tile_gemm(V + k * tb * cin, U + (long)k * cin * cout, M + k * tb * cout, nt, cin,
                      cout);
        for (int t = 0; t < nt; t++) {
            long n;
            int oy, ox;
            tile_at(t0 + t, n0, per_image, tw, &n, &oy, &ox);
            long at = n * yimg + oy * yrow + ox * ypix;
            output_tile(M + (long)t * cout, tb * cout, cout, b, y + at, acc ? acc + at : 0, yrow,
                        ypix, ho - oy < 2 ? 1 : 2, wo - ox < 2 ? 1 : 2, relu);
        }
    }
}

/* The weight gradient.  With M[k] = V[k] @ U[k] and y = A^T M A, the
 * gradient of U[k] is V[k]^T @ (A gy A^T)[k] summed over tiles, and that of
 * the kernel g is G^T dU G: the same input transform, a transform of each
 * 2x2 block of gy, and 16 GEMMs summing over tiles (tile_gemm_tn). */

/* (A g A^T)[k] of the ny x nx (<= 2 x 2) block of gy at g (zeros beyond it)
 * into GY[k * kstride + co]. */
static void gradient_tile(const float *g, long grow, int cout, int ny, int nx, float *GY,
                          long kstride)
{
    for (int c = 0; c < cout; c += 8) {
        v8 d[2][2], t[4][2];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                d[i][j] = i < ny && j < nx ? LD(g + i * grow + j * cout + c) : (v8){0};
        for (int j = 0; j < 2; j++) {  /* A d: rows */
            t[0][j] = d[0][j];
            t[1][j] = d[0][j] + d[1][j];
            t[2][j] = d[0][j] - d[1][j];
            t[3][j] = -d[1][j];
        }
        for (int i = 0; i < 4; i++) {  /* (A d) A^T: columns */
            float *o = GY + i * 4 * kstride + c;
            ST(o, t[i][0]);
            ST(o + kstride, t[i][0] + t[i][1]);
            ST(o + 2 * kstride, t[i][0] - t[i][1]);
            ST(o + 3 * kstride, -t[i][1]);
        }
    }
}

/* Twice the forward's block: each block loads and stores the 16 Cin x Cout
 * gradients of U once, so more tiles per block mean fewer passes over them. */
#ifndef WINOGRAD_WGRAD_BLOCK_BYTES
#define WINOGRAD_WGRAD_BLOCK_BYTES (1536L * 1024)
#endif

/* gU (16, cin, cout) = the gradient of winograd_weights(w) summed over images
 * n0..n1-1 of x and their NHWC output gradient gy (ho, wo, cout); gb (when not
 * NULL) = gy summed over their pixels.  Both are zeroed first. */
void winograd_backward_weights(const float *x, const float *gy, float *gU, double *gb, int n0,
                               int n1, int h, int w, int cin, int ho, int wo, int cout, int top,
                               int left)
{
    int th = (ho + 1) / 2, tw = (wo + 1) / 2;
    long per_image = (long)th * tw, total = (n1 - n0) * per_image;
    long tb = WINOGRAD_WGRAD_BLOCK_BYTES / (16L * (cin + cout) * 4);
    tb = tb < 12 ? 12 : tb;
    float *V = thread_scratch(16 * tb * (cin + cout) + cin), *GY = V + 16 * tb * cin;
    float *zeros = GY + 16 * tb * cout;
    for (int c = 0; c < cin; c++) zeros[c] = 0;
    for (long i = 0; i < 16L * cin * cout; i++) gU[i] = 0;
    if (gb) {
        for (int j = 0; j < cout; j++) gb[j] = 0;
        bias_gradient(gy, gb, n0, n1, (long)ho * wo, cout);
    }
    for (long t0 = 0; t0 < total; t0 += tb) {
        int nt = total - t0 < tb ? (int)(total - t0) : (int)tb;
        for (int t = 0; t < nt; t++) {
            long n;
            int oy, ox;
            tile_at(t0 + t, n0, per_image, tw, &n, &oy, &ox);
            input_tile(x + n * h * (long)w * cin, zeros, h, w, cin, oy - top, ox - left,
                       V + (long)t * cin, tb * cin);
            gradient_tile(gy + ((n * ho + oy) * (long)wo + ox) * cout, (long)wo * cout, cout,
                          ho - oy < 2 ? 1 : 2, wo - ox < 2 ? 1 : 2, GY + (long)t * cout,
                          tb * cout);
        }
        for (int k = 0; k < 16; k++)
            tile_gemm_tn(V + k * tb * cin, GY + k * tb * cout, gU + (long)k * cin * cout, nt, cin,
                         cout);
    }
}

/* gw (3, 3, cin, cout) = G^T (sum of the nparts gradients gU) G, for input
 * channels [c0, c1); the parts are added in order. */
void winograd_weights_gradient(const float *parts, float *gw, int nparts, int c0, int c1,
                               int cin, int cout)
{
    long plane = (long)cin * cout;
    for (long ci = c0; ci < c1; ci++)
        for (int co = 0; co < cout; co += 8) {
            v8 m[4][4], t[4][3];
            for (int k = 0; k < 16; k++) {
                v8 s = LD(parts + k * plane + ci * cout + co);
                for (int p = 1; p < nparts; p++)
                    s += LD(parts + (p * 16L + k) * plane + ci * cout + co);
                m[k / 4][k % 4] = s;
            }
            for (int a = 0; a < 4; a++)  /* dU G */
                for (int j = 0; j < 3; j++)
                    t[a][j] = m[a][0] * G[0][j] + m[a][1] * G[1][j] + m[a][2] * G[2][j]
                              + m[a][3] * G[3][j];
            for (int i = 0; i < 3; i++)  /* G^T (dU G) */
                for (int j = 0; j < 3; j++)
                    ST(gw + (i * 3 + j) * plane + ci * cout + co,
                       G[0][i] * t[0][j] + G[1][i] * t[1][j] + G[2][i] * t[2][j]
                       + G[3][i] * t[3][j]);
        }
}
