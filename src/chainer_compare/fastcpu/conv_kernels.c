/* Direct 2-D convolution kernels for channels-last float32 arrays.
 *
 * Built at first use by chainer_compare/fastcpu/_native.py (cc -O3
 * -march=native) and run by pool.c on chunks of the batch, on all threads.
 *
 * Why direct convolution instead of im2col + BLAS GEMM: the patch matrix of a
 * 3x3 layer is 9x its input (a 75 MB copy for a 128x16x32x32 activation), and
 * OpenBLAS runs the resulting tall, 16-to-64-column GEMMs at a third to two
 * thirds of its square-matrix speed.  A register tile of XB output pixels x 16
 * output channels (12 accumulators of 8 floats) reads each input value once
 * per tile from L1 and keeps the FMA units busy without any gather.
 *
 * Layouts (all C-contiguous float32):
 *   x   padded input, NHWC (N, hp, wp, cin)
 *   w   weights (kh, kw, cin, cout), cout a multiple of 16
 *   y   output, NHWC (N, ho, wo, cout)
 *   gw  weight gradient (kh, kw, cin, cout)
 * Each entry point handles images [n0, n1) so threads can split the batch.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kernels.h"

/* Register tiles of the convolutions: up to XMAX pixels (or input channels)
 * x CB vectors of VW floats.  AVX2 (16 vector registers): 6 pixels x 2
 * vectors of 8 (16 channels).  AVX-512 (32 registers): 12 x 2 vectors of 8
 * for a 16-channel block, and for 32 channels 12 x 2 vectors of 16 floats:
 * one instruction per 16 FMAs (Zen 4 runs it as two 256-bit halves at the
 * same FLOP rate) and half the weight loads per FMA of 8-float vectors
 * (measured on one core, 2026-12-03: 85-107 against 61-63 GFLOP/s on
 * ResNet's 32- and 64-channel layers and cnn's 5x5 layers; 16-float vectors
 * on 16 channels were slower, 78 against 96).  -DVC=8 builds the previous
 * 8-float tiles for 32 channels (6 x 4). */
#if !defined(VC) && defined(__AVX512F__)
#define VC 16
#elif !defined(VC)
#define VC 8
#endif
#if defined(__AVX512F__) && VC == 16
#define XMAX_S 12
#define XMAX_L 12
#define CB_L 2
#define VT_L v16
#define HAVE_L 1
#elif defined(__AVX512F__)
#define XMAX_S 12
#define XMAX_L 6
#define CB_L 4
#define VT_L v8
#define HAVE_L 1
#else
#define XMAX_S 6
#define HAVE_L 0
#endif

/* The core both convolution kernels share, on a register tile a[NI][CB] of
 * vectors of type VT (VW floats): a[i][j] += s[i * SSTEP] * v[VW * j] (NI
 * scalars s broadcast against CB vectors v, all FMAs independent), and
 * storing the tile to rows of a matrix with row stride LD_. */
#define TILE_RANK1(a, NI, CB, VT, VW, v, s, SSTEP)                               \
    do {                                                                          \
        VT v_[CB];                                                                \
        for (int j_ = 0; j_ < CB; j_++) v_[j_] = *(const VT *)((v) + VW * j_);    \
        for (int i_ = 0; i_ < NI; i_++) {                                         \
            float s_ = (s)[i_ * (SSTEP)];                                         \
            for (int j_ = 0; j_ < CB; j_++) a[i_][j_] += s_ * v_[j_];             \
        }                                                                         \
    } while (0)
#define TILE_STORE(a, NI, CB, VT, VW, dst, LD_)                                  \
    for (int i_ = 0; i_ < NI; i_++)                                               \
        for (int j_ = 0; j_ < CB; j_++) *(VT *)((dst) + i_ * (LD_) + VW * j_) = a[i_][j_]

/* One tile function per pixel count 1..12 for a (CB, vector type), and their table. */
#define TILES_1_12(M, CB, VT, VW) M(1, CB, VT, VW) M(2, CB, VT, VW) M(3, CB, VT, VW) \
    M(4, CB, VT, VW) M(5, CB, VT, VW) M(6, CB, VT, VW) M(7, CB, VT, VW)           \
    M(8, CB, VT, VW) M(9, CB, VT, VW) M(10, CB, VT, VW) M(11, CB, VT, VW)         \
    M(12, CB, VT, VW)
#define TILE_TABLE(PREFIX, CB, VW) TILE_TABLE_(PREFIX, CB, VW)  /* expands CB, VW first */
#define TILE_TABLE_(P, CB, VW) {0, P##1_##CB##_##VW, P##2_##CB##_##VW,             \
    P##3_##CB##_##VW, P##4_##CB##_##VW, P##5_##CB##_##VW, P##6_##CB##_##VW,         \
    P##7_##CB##_##VW, P##8_##CB##_##VW, P##9_##CB##_##VW, P##10_##CB##_##VW,        \
    P##11_##CB##_##VW, P##12_##CB##_##VW}
/* Both tilings of one kernel (TILE, functions PREFIX..., type FN): NAME_S for
 * 16-channel blocks and NAME_L for 32-channel ones, a null table when the
 * build has none (pick_tiling then never chooses it). */
#if HAVE_L
#define TILE_TABLES_L(TILE, PREFIX, FN, NAME) TILES_1_12(TILE, CB_L, VT_L, VC)     \
    static const FN NAME##_L[13] = TILE_TABLE(PREFIX, CB_L, VC);
#else
#define TILE_TABLES_L(TILE, PREFIX, FN, NAME) static const FN *const NAME##_L = 0;
#endif
#define TILE_TABLES(TILE, PREFIX, FN, NAME) TILES_1_12(TILE, 2, v8, 8)             \
    static const FN NAME##_S[13] = TILE_TABLE(PREFIX, 2, 8);                      \
    TILE_TABLES_L(TILE, PREFIX, FN, NAME)

/* Forward tile: XB adjacent output pixels of one row x CB vectors of output
 * channels.  x0: the input pixel under the tile's first output's kernel
 * origin; sxc: elements between horizontally adjacent outputs' inputs
 * (stride x cin); ypix: elements between adjacent outputs in y.  acc0 (or
 * NULL): an array laid out as y whose values are added to the outputs (a
 * gradient accumulated so far, see conv_forward_acc); relu: store max(., 0). */
#define FWD_TILE(XB, CB, VT, VW) FWD_TILE_(XB, CB, VT, VW)
#define FWD_TILE_(XB, CB, VT, VW)                                                 \
static void fwd_tile_##XB##_##CB##_##VW(const float *x0, const float *w0,          \
                                        const float *b, float *y0, int cin, int kh, \
                                        int kw, long xrow, long sxc, long cout,   \
                                        long ypix, const float *acc0, int relu)   \
{                                                                                 \
    VT a[XB][CB];                                                                 \
    for (int j = 0; j < CB; j++) {                                                \
        VT bj = {0};                                                              \
        if (b) bj = *(const VT *)(b + VW * j);                                    \
        for (int i = 0; i < XB; i++)                                              \
            a[i][j] = acc0 ? bj + *(const VT *)(acc0 + i * ypix + VW * j) : bj;  \
    }                                                                             \
    /* (kx, ci) is one run of kw * cin floats in x and in w's rows: one loop */   \
    for (int ky = 0; ky < kh; ky++) {                                             \
        const float *xr = x0 + ky * xrow;                                         \
        const float *wr = w0 + (long)ky * kw * cin * cout;                        \
        for (int f = 0; f < kw * cin; f++)                                        \
            TILE_RANK1(a, XB, CB, VT, VW, wr + f * cout, xr + f, sxc);            \
    }                                                                             \
    if (relu)                                                                     \
        for (int i = 0; i < XB; i++)                                              \
            for (int j = 0; j < CB; j++) {                                        \
                __typeof__(a[0][0] > a[0][0]) pos_ = a[i][j] > (VT){0};           \
                a[i][j] = (VT)(pos_ & (__typeof__(pos_))a[i][j]);                 \
            }                                                                     \
    TILE_STORE(a, XB, CB, VT, VW, y0, ypix);                                      \
}
typedef void (*fwd_tile_fn)(const float *, const float *, const float *, float *,
                            int, int, int, long, long, long, long, const float *, int);
TILE_TABLES(FWD_TILE, fwd_tile_, fwd_tile_fn, FWD_TILES)

/* Whether the 16-float tiles are built (the Python side sets its limits by it). */
int conv_wide_tiles(void) { return HAVE_L && VC == 16; }

/* The tiles for cout: 32-channel blocks where cout allows and the build has them. */
struct tiling { int cstep, xmax; const void *table; };

static struct tiling pick_tiling(int cout, const void *small, const void *large)
{
    struct tiling t = {16, XMAX_S, small};
#if HAVE_L
    if (cout % 32 == 0) { t.cstep = 32; t.xmax = XMAX_L; t.table = large; }
#endif
    return t;
}

/* Images are processed in blocks whose input fits in this many bytes (L2),
 * so each weight block is read from cache across a whole block. */
#define BLOCK_BYTES (384L * 1024)

static int images_per_block(long bytes_per_image)
{
    long nb = BLOCK_BYTES / (bytes_per_image > 0 ? bytes_per_image : 1);
    return nb < 1 ? 1 : (int)nb;
}

/* n items in equal parts of at most most: the size of part t of parts
 * (8 -> 4+4, not 6+2: a narrow tile runs the FMA units at a fraction of
 * their rate). */
static int parts_of(int n, int most) { return (n + most - 1) / most; }
static int part_size(int n, int parts, int t) { return n / parts + (t < n % parts); }

/* This thread's scratch buffer of at least need floats, 64-byte aligned,
 * kept for the next call (a padded block here, Winograd's tiles in
 * winograd.c): valid until this thread's next thread_scratch, so a kernel
 * uses it within one call and never across another kernel. */
float *thread_scratch(long need)
{
    static __thread float *scratch;
    static __thread long capacity;
    if (need > capacity) {
        free(scratch);
        scratch = aligned_alloc(64, ((need * 4 + 63) / 64) * 64);
        capacity = scratch ? need : 0;
        if (!scratch) {  /* about a megabyte: the process is out of memory */
            fputs("chainer_compare.fastcpu: out of memory for a scratch block\n", stderr);
            abort();
        }
    }
    return scratch;
}

/* The images [n, n + nb) of x (N, h, w, cin) padded with zeros by (top,
 * left, bottom, right): x's own memory without padding, else a copy in this
 * thread's scratch buffer.  Padding a block of images that fits in L2 just
 * before the tiles read it replaces a pass writing (and then reading) a
 * padded copy of the whole batch. */
static const float *padded_block(const float *x, long n, int nb, int h, int w, int cin,
                                 const int pad[4])
{
    if (!(pad[0] | pad[1] | pad[2] | pad[3])) return x + n * h * (long)w * cin;
    long hp = h + pad[0] + pad[2], wp = w + pad[1] + pad[3];
    float *scratch = thread_scratch(nb * hp * wp * cin);
    pad_nhwc(x + n * h * (long)w * cin, scratch, 0, nb, h, w, cin, pad[0], pad[1], pad[2],
             pad[3], 0.0f);
    return scratch;
}

/* y = conv(xpad, w) + b (b may be NULL) + acc (acc may be NULL: an array laid
 * out as y) for images n0..n1-1, where xpad is x (N, h, w, cin) padded by
 * pad = (top, left, bottom, right) zeros.  Output pixel (n, oy, ox) goes to
 * y + n * yimg + oy * yrow + ox * ypix (a plain NHWC y: ho * wo * cout,
 * wo * cout, cout; a strided data gradient writes one phase of every other
 * pixel).  With acc, a data gradient is added to the gradient accumulated so
 * far for the same input in the same pass, instead of a separate sum; with
 * relu, outputs are max(., 0) (an evaluation-mode conv + BN + ReLU, the BN
 * folded into w and b). */
void conv_forward_acc(const float *x, const float *w, const float *b, float *y,
                      int n0, int n1, int h, int w_, int cin, int kh, int kw,
                      int sy, int sx, int ho, int wo, int cout, long yimg, long yrow, long ypix,
                      const float *acc, const int pad[4], int relu)
{
    int hp = h + pad[0] + pad[2], wp = w_ + pad[1] + pad[3];
    long xrow = (long)wp * cin, ximg = hp * xrow;
    int nb = images_per_block(ximg * 4);
    struct tiling tl = pick_tiling(cout, FWD_TILES_S, FWD_TILES_L);
    const fwd_tile_fn *table = tl.table;
    int tiles = parts_of(wo, tl.xmax), nx;
    for (long nblk = n0; nblk < n1; nblk += nb) {
        int nimg = n1 - nblk < nb ? (int)(n1 - nblk) : nb;
        const float *xb = padded_block(x, nblk, nimg, h, w_, cin, pad);
        for (int cb = 0; cb < cout; cb += tl.cstep)
            for (long n = nblk; n < nblk + nimg; n++)
                for (int oy = 0; oy < ho; oy++)
                    for (int t = 0, ox = 0; t < tiles; t++, ox += nx) {
                        long out = n * yimg + oy * yrow + ox * ypix + cb;
                        nx = part_size(wo, tiles, t);
                        table[nx](xb + (n - nblk) * ximg + ((long)oy * sy * wp
                                                            + (long)ox * sx) * cin,
                                  w + cb, b ? b + cb : 0, y + out,
                                  cin, kh, kw, xrow, (long)sx * cin, cout, ypix,
                                  acc ? acc + out : 0, relu);
                    }
    }
}

/* C (rows x cout) = A (rows x k) @ B (k x cout), all row-major and contiguous:
 * the forward tiles as a GEMM (a 1x1 convolution of rows "pixels"), for
 * winograd.c's 16 products per block of tiles.  Each 16- or 32-column panel
 * of B is read from cache by every row tile. */
void tile_gemm(const float *A, const float *B, float *C, int rows, int k, int cout)
{
    struct tiling tl = pick_tiling(cout, FWD_TILES_S, FWD_TILES_L);
    const fwd_tile_fn *table = tl.table;
    int tiles = parts_of(rows, tl.xmax), nx;
    for (int cb = 0; cb < cout; cb += tl.cstep)
        for (int t = 0, r = 0; t < tiles; t++, r += nx) {
            nx = part_size(rows, tiles, t);
            table[nx](A + (long)r * k, B + cb, 0, C + (long)r * cout + cb, k, 1, 1, 0, k,
                      cout, cout, 0, 0);
        }
}

/* conv_forward_acc on an already padded x (hp x wp), nothing added. */
void conv_forward(const float *x, const float *w, const float *b, float *y,
                  int n0, int n1, int hp, int wp, int cin, int kh, int kw,
                  int sy, int sx, int ho, int wo, int cout, long yimg, long yrow, long ypix)
{
    static const int no_pad[4];
    conv_forward_acc(x, w, b, y, n0, n1, hp, wp, cin, kh, kw, sy, sx, ho, wo, cout,
                     yimg, yrow, ypix, 0, no_pad, 0);
}

/* Weight-gradient tile: CI input channels x CB vectors of output channels,
 * summed over nr output rows of wo pixels of nimg images (ximg, gimg apart in
 * x and gy), the accumulators loaded and stored once for all of them.  x0:
 * input under output (row 0, col 0) for this kernel offset and first channel;
 * g0: gy of that output, first channel of the block. */
#define BWW_TILE(CI, CB, VT, VW) BWW_TILE_(CI, CB, VT, VW)
#define BWW_TILE_(CI, CB, VT, VW)                                                 \
static void bww_tile_##CI##_##CB##_##VW(const float *x0, const float *g0, float *gw0, \
                                        int nr, int wo, long xrow, long sxc,      \
                                        long cout, int nimg, long ximg, long gimg) \
{                                                                                 \
    VT a[CI][CB];                                                                 \
    for (int i = 0; i < CI; i++)                                                  \
        for (int j = 0; j < CB; j++) a[i][j] = *(const VT *)(gw0 + i * cout + VW * j); \
    for (int m = 0; m < nimg; m++)                                                \
        for (int r = 0; r < nr; r++) {                                            \
            const float *xr = x0 + m * ximg + r * xrow;                           \
            const float *g = g0 + m * gimg + (long)r * wo * cout;                 \
            for (int ox = 0; ox < wo; ox++)                                       \
                TILE_RANK1(a, CI, CB, VT, VW, g + ox * cout, xr + ox * sxc, 1);   \
        }                                                                         \
    TILE_STORE(a, CI, CB, VT, VW, gw0, cout);                                     \
}
typedef void (*bww_tile_fn)(const float *, const float *, float *, int, int, long,
                            long, long, int, long, long);
TILE_TABLES(BWW_TILE, bww_tile_, bww_tile_fn, BWW_TILES)

/* C (k x cout) += A^T @ B for A (rows x k) and B (rows x cout), row-major and
 * contiguous: the weight-gradient tiles as a GEMM summing over rows, for
 * winograd.c's weight gradient.  Each tile's accumulators are loaded and
 * stored once for all rows. */
void tile_gemm_tn(const float *A, const float *B, float *C, int rows, int k, int cout)
{
    struct tiling tl = pick_tiling(cout, BWW_TILES_S, BWW_TILES_L);
    const bww_tile_fn *table = tl.table;
    int groups = parts_of(k, tl.xmax);
    for (int cb = 0; cb < cout; cb += tl.cstep)
        for (int t = 0, f = 0, nf; t < groups; t++, f += nf) {
            nf = part_size(k, groups, t);
            table[nf](A + f, B + cb, C + (long)f * cout + cb, 1, rows, 0, k, cout, 1, 0, 0);
        }
}

/* gb += gy summed over the pixels of images n0..n1-1 (float32 per image,
 * float64 across images): the bias gradient, while gy is in cache. */
void bias_gradient(const float *gy, double *gb, long n0, long n1, long pixels, int cout)
{
    for (long n = n0; n < n1; n++)
        for (int j = 0; j < cout; j += 8) {
            v8 s = {0};
            const float *g = gy + n * pixels * cout + j;
            for (long p = 0; p < pixels; p++) s += LD(g + p * cout);
            for (int t = 0; t < 8; t++) gb[j + t] += s[t];
        }
}

/* gw = sum over images n0..n1-1 of xpad (*) gy, the weight gradient of
 * conv_forward_acc (xpad: x (N, h, w, cin) padded by pad), and gb (when not
 * NULL) = gy summed over those images' pixels, the bias gradient (float32 per
 * image, float64 across images).  Images are taken in blocks whose padded
 * input and gradient fit in cache; each tile's accumulators are loaded and
 * stored once per block. */
void conv_backward_weights(const float *x, const float *gy, float *gw, double *gb,
                           int n0, int n1, int h, int w_, int cin, int kh, int kw,
                           int sy, int sx, int ho, int wo, int cout, const int pad[4])
{
    int hp = h + pad[0] + pad[2], wp = w_ + pad[1] + pad[3];
    long xrow = (long)wp * cin, ximg = hp * xrow;
    int nb = images_per_block((ximg + (long)ho * wo * cout) * 4);
    struct tiling tl = pick_tiling(cout, BWW_TILES_S, BWW_TILES_L);
    const bww_tile_fn *table = tl.table;
    /* The tiles' "input channels" are the kw * cin pairs (kx, ci) of one kernel
     * row: contiguous in x and in gw alike, so a 3-channel first layer still
     * fills 12-row tiles (15 pairs for 5x5) instead of 3-row ones. */
    int depth = kw * cin, groups = parts_of(depth, tl.xmax);
    for (long i = 0; i < (long)kh * kw * cin * cout; i++) gw[i] = 0;
    if (gb)
        for (int j = 0; j < cout; j++) gb[j] = 0;
    for (long nblk = n0; nblk < n1; nblk += nb) {
        int nimg = n1 - nblk < nb ? (int)(n1 - nblk) : nb;
        const float *xb = padded_block(x, nblk, nimg, h, w_, cin, pad);
        if (gb)  /* the bias gradient: gy summed per channel while the block is in cache */
            bias_gradient(gy, gb, nblk, nblk + nimg, (long)ho * wo, cout);
        for (int ky = 0; ky < kh; ky++)
            for (int cb = 0; cb < cout; cb += tl.cstep)
                for (int t = 0, f = 0, nf; t < groups; t++, f += nf) {
                    nf = part_size(depth, groups, t);
                    table[nf](xb + ky * xrow + f, gy + nblk * ho * (long)wo * cout + cb,
                              gw + ((long)ky * depth + f) * cout + cb,
                              ho, wo, xrow * sy, (long)sx * cin, cout,
                              nimg, ximg, (long)ho * wo * cout);
                }
    }
}
