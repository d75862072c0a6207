// Fourier basis values on the CPU: forward and backward.
//
//   out[e, :] = [1, c_1 .. c_n, s_1 .. s_n],  c_k = cos(k a), s_k = sin(k a),  a = angle[e],
//
// from c_1 and s_1 (evaluated by ATen's vectorised cos/sin) by the Chebyshev recurrence
// c_{k+1} = 2 c_1 c_k - c_{k-1}, s_{k+1} = 2 c_1 s_k - s_{k-1}, as
// functional.fourier_basis_harmonic does, but in one pass with no temporaries. The backward
// recomputes the harmonics and returns d/da of sum(grad * out).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <vector>

namespace {

constexpr int64_t kGrain = 2048;

template <typename T>
void forward_kernel(const T* c1, const T* s1, T* out, int64_t count, int64_t n) {
  const int64_t width = 2 * n + 1;
  at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      T* o = out + e * width;
      o[0] = T(1);
      if (n == 0) continue;
      const T twice = c1[e] + c1[e];
      T previous_c = T(1), previous_s = T(0), c = c1[e], s = s1[e];
      o[1] = c;
      o[n + 1] = s;
      for (int64_t k = 2; k <= n; ++k) {
        const T next_c = twice * c - previous_c, next_s = twice * s - previous_s;
        previous_c = c;
        previous_s = s;
        c = next_c;
        s = next_s;
        o[k] = c;
        o[n + k] = s;
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* grad, const T* c1, const T* s1, T* grad_angle, int64_t count, int64_t n) {
  const int64_t width = 2 * n + 1;
  at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      const T* g = grad + e * width;
      const T twice = c1[e] + c1[e];
      T previous_c = T(1), previous_s = T(0), c = c1[e], s = s1[e];
      // d c_k / d a = -k s_k, d s_k / d a = k c_k
      T sum = g[n + 1] * c - g[1] * s;
      for (int64_t k = 2; k <= n; ++k) {
        const T next_c = twice * c - previous_c, next_s = twice * s - previous_s;
        previous_c = c;
        previous_s = s;
        c = next_c;
        s = next_s;
        sum += T(k) * (g[n + k] * c - g[k] * s);
      }
      grad_angle[e] = n == 0 ? T(0) : sum;
    }
  });
}

void check(const at::Tensor& c1, const at::Tensor& s1) {
  TORCH_CHECK(c1.is_contiguous() && s1.is_contiguous(), "fourier_cpu: inputs must be contiguous");
  TORCH_CHECK(c1.sizes() == s1.sizes() && c1.scalar_type() == s1.scalar_type(), "fourier_cpu: cos/sin mismatch");
}

}  // namespace

// c1, s1: cos and sin of the angle, any shape (*) -> (*, 2 n + 1)
at::Tensor fourier_forward(at::Tensor c1, at::Tensor s1, int64_t n) {
  check(c1, s1);
  std::vector<int64_t> shape(c1.sizes().begin(), c1.sizes().end());
  shape.push_back(2 * n + 1);
  auto out = at::empty(shape, c1.options());
  AT_DISPATCH_FLOATING_TYPES(c1.scalar_type(), "fourier_forward", [&] {
    forward_kernel<scalar_t>(c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), c1.numel(),
                             n);
  });
  return out;
}

// grad: (*, 2 n + 1) -> gradient with respect to the angle, (*)
at::Tensor fourier_backward(at::Tensor grad, at::Tensor c1, at::Tensor s1, int64_t n) {
  check(c1, s1);
  grad = grad.contiguous();
  TORCH_CHECK(grad.numel() == c1.numel() * (2 * n + 1), "fourier_cpu: bad gradient shape");
  auto grad_angle = at::empty_like(c1);
  AT_DISPATCH_FLOATING_TYPES(c1.scalar_type(), "fourier_backward", [&] {
    backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(),
                              grad_angle.data_ptr<scalar_t>(), c1.numel(), n);
  });
  return grad_angle;
}
