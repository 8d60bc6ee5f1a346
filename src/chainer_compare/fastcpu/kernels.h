/* Shared by the compiled kernels (conv_kernels.c, kernels.c, weights.c,
 * pool.c, chunks.c): 8- and 16-float vectors in GCC's vector extensions, no
 * intrinsics, so one source builds for AVX2 and AVX-512 alike (cc -O3
 * -march=native, by chainer_compare/fastcpu/_native.py).
 *
 * Every entry point works on C-contiguous float32 arrays and handles a range
 * of images (or rows, or channel blocks) [n0, n1), so pool.c runs one call on
 * each chunk of a batch, on several threads at once.
 */
#ifndef CHAINER_COMPARE_KERNELS_H
#define CHAINER_COMPARE_KERNELS_H
typedef float v8 __attribute__((vector_size(32), aligned(4)));
#define LD(p) (*(const v8 *)(p))
#define ST(p, v) (*(v8 *)(p) = (v))
typedef int vi8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64), aligned(4)));
/* v where ref > 0, else 0 (the ReLU mask; C has no vector ?:). */
#define WHERE_POS(ref, v) ((v8)((vi8)(v) & ((ref) > (v8){0})))
/* One word of a kernel's arguments (pool.c, chunks.c): an integer, a pointer or a float. */
union karg { long i; const void *p; double f; };
typedef void (*chunk_fn)(const union karg *a, long lo, long hi, long chunk);

/* The entry points (conv_kernels.c, winograd.c, kernels.c, weights.c), run in chunks by pool.c. */
void conv_forward(const float *x, const float *w, const float *b, float *y,
                  int n0, int n1, int hp, int wp, int cin, int kh, int kw,
                  int sy, int sx, int ho, int wo, int cout, long yimg, long yrow, long ypix);
void conv_forward_acc(const float *x, const float *w, const float *b, float *y,
                      int n0, int n1, int h, int w_, int cin, int kh, int kw,
                      int sy, int sx, int ho, int wo, int cout, long yimg, long yrow, long ypix,
                      const float *acc, const int pad[4], int relu);
void winograd_weights(const float *w, float *U, int c0, int c1, int cin, int cout);
void winograd_forward(const float *x, const float *U, const float *b, float *y, int n0, int n1,
                      int h, int w, int cin, int ho, int wo, int cout, long yimg, long yrow,
                      long ypix, const float *acc, int top, int left, int relu);
void winograd_backward_weights(const float *x, const float *gy, float *gU, double *gb, int n0,
                               int n1, int h, int w, int cin, int ho, int wo, int cout, int top,
                               int left);
void winograd_weights_gradient(const float *parts, float *gw, int nparts, int c0, int c1,
                               int cin, int cout);
void conv_backward_weights(const float *x, const float *gy, float *gw, double *gb,
                           int n0, int n1, int h, int w_, int cin, int kh, int kw,
                           int sy, int sx, int ho, int wo, int cout, const int pad[4]);
void sum_parts_to_oihw(const float *parts, float *out, int nparts, int c0, int c1,
                       int cin, int kh, int kw, int cout);
void oihw_to_kernel_layout(const float *W, float *w, int c0, int c1, int cin, int kh, int kw,
                           int cout, int flip);
void bn_stats(const float *x, double *sums, long r0, long r1, int c);
void bn_apply(const float *x, float *y, const float *scale, const float *shift,
              long r0, long r1, int c, int relu);
void bn_grad_stats(const float *gy, const float *x, const float *scale, const float *shift,
                   double *sums, long r0, long r1, int c);
void bn_grad_apply(const float *gy, const float *x, const float *scale, const float *shift,
                   float *gx, const float *a, const float *b, const float *d,
                   long r0, long r1, int c);
void pad_nhwc(const float *src, float *dst, int n0, int n1, int h, int w, int c,
              int top, int left, int bottom, int right, float value);
void add_relu(const float *a, const float *b, float *out, long i0, long i1);
void relu_grad(const float *y, const float *g, float *out, long i0, long i1);
void relu_forward(const float *x, float *out, long i0, long i1);
void max_pool_forward(const float *x, float *y, unsigned char *win, int n0, int n1,
                      int h, int w, int c, int kh, int kw, int sy, int sx, int ph, int pw,
                      int ho, int wo);
void max_pool_backward(const float *gy, const unsigned char *win, float *gx, int n0, int n1,
                       int h, int w, int c, int kh, int kw, int sy, int sx, int ph, int pw,
                       int ho, int wo);
#endif
