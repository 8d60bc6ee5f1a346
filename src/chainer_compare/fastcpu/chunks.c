/* The kernels as pool.c's chunk functions: fn(args, lo, hi, chunk) runs
 * the kernel on [lo, hi), its arguments read in order from the words args.
 * _native.py's KERNELS names them (chunk_<name>).
 */
#include "kernels.h"

#define A(k) (a[k].p)
#define I(k) ((int)a[k].i)

/* A Python function (a ctypes callback) fn(lo, hi, chunk). */
void chunk_python(const union karg *a, long lo, long hi, long chunk)
{
    ((void (*)(long, long, long))a[0].p)(lo, hi, chunk);
}

static void pads(const union karg *a, int pad[4])
{
    for (int k = 0; k < 4; k++) pad[k] = (int)a[k].i;
}

/* arg 17: the array added to the output, laid out as it (or NULL); 18-21: the
 * zero padding (top, left, bottom, right) of the input (args 4, 5: its size);
 * 22: ReLU on the output */
void chunk_conv_forward(const union karg *a, long lo, long hi, long chunk)
{
    int pad[4];
    pads(a + 18, pad);
    conv_forward_acc(A(0), A(1), A(2), (float *)A(3), lo, hi, I(4), I(5), I(6), I(7), I(8),
                     I(9), I(10), I(11), I(12), I(13), a[14].i, a[15].i, a[16].i, A(17), pad,
                     I(22));
}

/* args x, U, b, y, h, w, cin, ho, wo, cout, yimg, yrow, ypix, acc, top, left, relu */
void chunk_winograd_forward(const union karg *a, long lo, long hi, long chunk)
{
    winograd_forward(A(0), A(1), A(2), (float *)A(3), lo, hi, I(4), I(5), I(6), I(7), I(8),
                     I(9), a[10].i, a[11].i, a[12].i, A(13), I(14), I(15), I(16));
}

/* chunks of input channels: args w, U, cin, cout */
void chunk_winograd_weights(const union karg *a, long lo, long hi, long chunk)
{
    winograd_weights(A(0), (float *)A(1), (int)lo, (int)hi, I(2), I(3));
}

/* args x, gy, per-chunk gU (floats) and gb (doubles, or NULL), their sizes, h, w, cin,
 * ho, wo, cout, top, left */
void chunk_winograd_backward_weights(const union karg *a, long lo, long hi, long chunk)
{
    winograd_backward_weights(A(0), A(1), (float *)A(2) + chunk * a[4].i,
                              A(3) ? (double *)A(3) + chunk * a[5].i : 0, lo, hi, I(6), I(7),
                              I(8), I(9), I(10), I(11), I(12), I(13));
}

/* chunks of input channels: args parts, gw, nparts, cin, cout */
void chunk_winograd_weights_gradient(const union karg *a, long lo, long hi, long chunk)
{
    winograd_weights_gradient(A(0), (float *)A(1), I(2), (int)lo, (int)hi, I(3), I(4));
}

/* args 2, 3: per-chunk gw (floats) and gb (doubles, or NULL); 4, 5: their
 * sizes; 16-19: the input's padding */
void chunk_conv_backward_weights(const union karg *a, long lo, long hi, long chunk)
{
    int pad[4];
    pads(a + 16, pad);
    conv_backward_weights(A(0), A(1), (float *)A(2) + chunk * a[4].i,
                          A(3) ? (double *)A(3) + chunk * a[5].i : 0, lo, hi, I(6), I(7), I(8),
                          I(9), I(10), I(11), I(12), I(13), I(14), I(15), pad);
}

/* chunks of output channels in units of 16: args parts, out, nparts, cin, kh, kw, cout */
void chunk_sum_parts_to_oihw(const union karg *a, long lo, long hi, long chunk)
{
    sum_parts_to_oihw(A(0), (float *)A(1), I(2), (int)lo * 16, (int)hi * 16, I(3), I(4),
                      I(5), I(6));
}

/* chunks of output channels in units of 16: args W, w, cin, kh, kw, cout, flip */
void chunk_oihw_to_kernel_layout(const union karg *a, long lo, long hi, long chunk)
{
    oihw_to_kernel_layout(A(0), (float *)A(1), (int)lo * 16, (int)hi * 16, I(2), I(3), I(4),
                          I(5), I(6));
}

/* arg 1: per-chunk sums, 2 * c doubles each */
void chunk_bn_stats(const union karg *a, long lo, long hi, long chunk)
{
    bn_stats(A(0), (double *)A(1) + chunk * 2 * a[2].i, lo, hi, I(2));
}

void chunk_bn_apply(const union karg *a, long lo, long hi, long chunk)
{
    bn_apply(A(0), (float *)A(1), A(2), A(3), lo, hi, I(4), I(5));
}

void chunk_bn_grad_stats(const union karg *a, long lo, long hi, long chunk)
{
    bn_grad_stats(A(0), A(1), A(2), A(3), (double *)A(4) + chunk * 2 * a[5].i, lo, hi, I(5));
}

void chunk_bn_grad_apply(const union karg *a, long lo, long hi, long chunk)
{
    bn_grad_apply(A(0), A(1), A(2), A(3), (float *)A(4), A(5), A(6), A(7), lo, hi, I(8));
}

void chunk_add_relu(const union karg *a, long lo, long hi, long chunk)
{
    add_relu(A(0), A(1), (float *)A(2), lo, hi);
}

void chunk_relu_grad(const union karg *a, long lo, long hi, long chunk)
{
    relu_grad(A(0), A(1), (float *)A(2), lo, hi);
}

void chunk_relu_forward(const union karg *a, long lo, long hi, long chunk)
{
    relu_forward(A(0), (float *)A(1), lo, hi);
}

void chunk_pad_nhwc(const union karg *a, long lo, long hi, long chunk)
{
    pad_nhwc(A(0), (float *)A(1), lo, hi, I(2), I(3), I(4), I(5), I(6), I(7), I(8),
             (float)a[9].f);
}

void chunk_max_pool_forward(const union karg *a, long lo, long hi, long chunk)
{
    max_pool_forward(A(0), (float *)A(1), (unsigned char *)A(2), lo, hi, I(3), I(4), I(5),
                     I(6), I(7), I(8), I(9), I(10), I(11), I(12), I(13));
}

void chunk_max_pool_backward(const union karg *a, long lo, long hi, long chunk)
{
    max_pool_backward(A(0), A(1), (float *)A(2), lo, hi, I(3), I(4), I(5), I(6), I(7), I(8),
                      I(9), I(10), I(11), I(12), I(13));
}
