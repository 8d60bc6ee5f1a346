/* Shared by the compiled kernels (conv_kernels.c, kernels.c): 8-float vectors
 * in GCC's vector extensions, no intrinsics, so one source builds for AVX2 and
 * AVX-512 alike (cc -O3 -march=native, by chainer_compare/fastcpu/_native.py).
 *
 * Every entry point works on C-contiguous float32 arrays and handles a range
 * of images (or rows) [n0, n1), so the Python side runs one call per thread
 * on disjoint parts of the batch (ctypes releases the GIL).
 */
#ifndef CHAINER_COMPARE_KERNELS_H
#define CHAINER_COMPARE_KERNELS_H
typedef float v8 __attribute__((vector_size(32), aligned(4)));
#define LD(p) (*(const v8 *)(p))
#define ST(p, v) (*(v8 *)(p) = (v))
typedef int vi8 __attribute__((vector_size(32)));
/* v where ref > 0, else 0 (the ReLU mask; C has no vector ?:). */
#define WHERE_POS(ref, v) ((v8)((vi8)(v) & ((ref) > (v8){0})))
#endif
