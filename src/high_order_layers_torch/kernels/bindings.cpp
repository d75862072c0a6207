// Python bindings of the CPU kernels (one extension module, built on first use).
#include <torch/extension.h>

#include <vector>

at::Tensor gather_forward(at::Tensor x, at::Tensor weight, at::Tensor nodes, int64_t segments, int64_t stride,
                          bool clamp);
std::vector<at::Tensor> gather_backward(at::Tensor grad_out, at::Tensor x, at::Tensor weight, at::Tensor nodes,
                                        int64_t segments, int64_t stride, bool clamp, bool need_x);
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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gather_forward", &gather_forward, "fused piecewise basis and gather contraction, forward (CPU)");
  m.def("gather_backward", &gather_backward, "fused piecewise basis and gather contraction, backward (CPU)");
  m.def("product_forward", &product_forward, "fused basis, links and product neuron, forward (CPU)");
  m.def("product_backward", &product_backward, "fused basis, links and product neuron, backward (CPU)");
  m.def("expand_forward", &expand_forward, "fused piecewise basis expansion, forward (CPU)");
  m.def("expand_backward", &expand_backward, "fused piecewise basis expansion, backward (CPU)");
  m.def("conv_gather_forward", &conv_gather_forward, "gather convolution of piecewise links, forward (CPU)");
  m.def("conv_gather_backward", &conv_gather_backward, "gather convolution of piecewise links, backward (CPU)");
  m.def("chebyshev_forward", &chebyshev_forward, "Chebyshev polynomials T_1.., forward (CPU)");
  m.def("chebyshev_backward", &chebyshev_backward, "Chebyshev polynomials T_1.., backward (CPU)");
  m.def("fourier_forward", &fourier_forward, "Fourier basis values by recurrence, forward (CPU)");
  m.def("fourier_backward", &fourier_backward, "Fourier basis values by recurrence, backward (CPU)");
}
