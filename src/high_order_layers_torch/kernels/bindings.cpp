// Python bindings of the CPU kernels (one extension module, built on first use).
#include <torch/extension.h>

#include <vector>

at::Tensor gather_forward(at::Tensor x, at::Tensor weight, at::Tensor nodes, int64_t segments, int64_t stride,
                          bool clamp);
std::vector<at::Tensor> gather_backward(at::Tensor grad_out, at::Tensor x, at::Tensor weight, at::Tensor nodes,
                                        int64_t segments, int64_t stride, bool clamp, bool need_x);
at::Tensor bspline_gather_forward(at::Tensor x, at::Tensor weight, int64_t segments, bool clamp);
std::vector<at::Tensor> bspline_gather_backward(at::Tensor grad_out, at::Tensor x, at::Tensor weight,
                                                int64_t segments, bool clamp, bool need_x);
std::vector<at::Tensor> product_forward(at::Tensor x, at::Tensor weight, at::Tensor nodes, int64_t segments,
                                        int64_t stride, bool linear, double alpha, bool clamp);
std::vector<at::Tensor> product_backward(at::Tensor grad_y, at::Tensor x, at::Tensor weight, at::Tensor rest,
                                         at::Tensor zeros, at::Tensor nodes, int64_t segments, int64_t stride,
                                         bool linear, double alpha, bool clamp);
at::Tensor expand_forward(at::Tensor x, at::Tensor nodes, int64_t segments, int64_t stride, int64_t num_weights,
                          bool clamp);
at::Tensor expand_backward(at::Tensor grad_dense, at::Tensor x, at::Tensor nodes, int64_t segments, int64_t stride,
                           int64_t num_weights, bool clamp);
at::Tensor conv_gather_forward(at::Tensor x, at::Tensor weight, at::Tensor taps, at::Tensor nodes, int64_t segments,
                               int64_t stride, bool clamp, bool transposed, int64_t groups);
std::vector<at::Tensor> conv_gather_backward(at::Tensor grad_y, at::Tensor x, at::Tensor weight, at::Tensor inverse,
                                             at::Tensor nodes, int64_t segments, int64_t stride, bool clamp,
                                             bool transposed, int64_t groups, bool need_x);
at::Tensor chebyshev_forward(at::Tensor x, int64_t n, bool clamp);
at::Tensor chebyshev_backward(at::Tensor grad, at::Tensor x, int64_t n, bool clamp);
at::Tensor fourier_forward(at::Tensor c1, at::Tensor s1, int64_t n, bool rows, bool constant);
at::Tensor fourier_backward(at::Tensor grad, at::Tensor c1, at::Tensor s1, int64_t n, bool rows, bool constant);

// Every kernel is a pair, `<name>_forward` and `<name>_backward`, described as "<what>, forward (CPU)"
// and "<what>, backward (CPU)".
#define DEF_KERNEL_PAIR(m, name, what)                               \
  m.def(#name "_forward", &name##_forward, what ", forward (CPU)"); \
  m.def(#name "_backward", &name##_backward, what ", backward (CPU)")

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  DEF_KERNEL_PAIR(m, gather, "fused piecewise basis and gather contraction");
  DEF_KERNEL_PAIR(m, bspline_gather, "fused uniform B-spline basis and gather contraction");
  DEF_KERNEL_PAIR(m, product, "fused basis, links and product neuron");
  DEF_KERNEL_PAIR(m, expand, "fused piecewise basis expansion");
  DEF_KERNEL_PAIR(m, conv_gather, "gather convolution of piecewise links");
  DEF_KERNEL_PAIR(m, chebyshev, "Chebyshev polynomials T_1..");
  DEF_KERNEL_PAIR(m, fourier, "Fourier basis values by recurrence");
}
