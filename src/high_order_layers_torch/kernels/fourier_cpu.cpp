// Fourier basis values on the CPU: forward and backward.
//
//   out[e, :] = [1, c_1 .. c_n, s_1 .. s_n],  c_k = cos(k a), s_k = sin(k a),  a = angle[e],
//
// or, with `rows` and an angle of shape (B, I), out[b, :, i] (the values of one input in a column
// of a (B, W, I) block: the layout a GEMM over "basis function, then input" reads), and without
// `constant` the leading 1 left out (W = 2 n + 1 or 2 n).
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

// Where element e's values go: out[base(e) + j * step] for value j.
struct Layout {
  int64_t width, step, inputs;  // inputs: the I of the (B, W, I) layout, or 0 for (*, W)
  int64_t first;                // 1 with the leading constant, else 0
  int64_t base(int64_t e) const { return inputs == 0 ? e * width : (e / inputs) * width * inputs + e % inputs; }
};

template <typename T>
void forward_kernel(const T* c1, const T* s1, T* out, int64_t count, int64_t n, Layout layout) {
  const int64_t step = layout.step, f = layout.first;
  at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      T* o = out + layout.base(e);
      if (f) o[0] = T(1);
      if (n == 0) continue;
      const T twice = c1[e] + c1[e];
      T previous_c = T(1), previous_s = T(0), c = c1[e], s = s1[e];
      o[f * step] = c;
      o[(f + n) * step] = s;
      for (int64_t k = 2; k <= n; ++k) {
        const T next_c = twice * c - previous_c, next_s = twice * s - previous_s;
        previous_c = c;
        previous_s = s;
        c = next_c;
        s = next_s;
        o[(f + k - 1) * step] = c;
        o[(f + n + k - 1) * step] = s;
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* grad, const T* c1, const T* s1, T* grad_angle, int64_t count, int64_t n,
                     Layout layout) {
  const int64_t step = layout.step, f = layout.first;
  at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      const T* g = grad + layout.base(e);
      const T twice = c1[e] + c1[e];
      T previous_c = T(1), previous_s = T(0), c = c1[e], s = s1[e];
      // d c_k / d a = -k s_k, d s_k / d a = k c_k
      T sum = n == 0 ? T(0) : g[(f + n) * step] * c - g[f * step] * s;
      for (int64_t k = 2; k <= n; ++k) {
        const T next_c = twice * c - previous_c, next_s = twice * s - previous_s;
        previous_c = c;
        previous_s = s;
        c = next_c;
        s = next_s;
        sum += T(k) * (g[(f + n + k - 1) * step] * c - g[(f + k - 1) * step] * s);
      }
      grad_angle[e] = sum;
    }
  });
}

void check(const at::Tensor& c1, const at::Tensor& s1) {
  TORCH_CHECK(c1.is_contiguous() && s1.is_contiguous(), "fourier_cpu: inputs must be contiguous");
  TORCH_CHECK(c1.sizes() == s1.sizes() && c1.scalar_type() == s1.scalar_type(), "fourier_cpu: cos/sin mismatch");
}

Layout make_layout(const at::Tensor& c1, int64_t n, bool rows, bool constant) {
  TORCH_CHECK(n >= 0 && (constant || n >= 1), "fourier_cpu: need n >= 0, and n >= 1 without the constant");
  TORCH_CHECK(!rows || c1.dim() == 2, "fourier_cpu: the rows layout takes a (B, I) angle");
  const int64_t first = constant ? 1 : 0, width = 2 * n + first;
  if (!rows) return Layout{width, 1, 0, first};
  return Layout{width, c1.size(1), c1.size(1), first};
}

}  // namespace

// c1, s1: cos and sin of the angle, any shape (*) -> (*, W); with `rows`, (B, I) -> (B, W, I).
// W = 2 n + 1, or 2 n without `constant`.
at::Tensor fourier_forward(at::Tensor c1, at::Tensor s1, int64_t n, bool rows, bool constant) {
  check(c1, s1);
  const Layout layout = make_layout(c1, n, rows, constant);
  std::vector<int64_t> shape(c1.sizes().begin(), c1.sizes().end());
  if (rows)
    shape.insert(shape.begin() + 1, layout.width);
  else
    shape.push_back(layout.width);
  auto out = at::empty(shape, c1.options());
  AT_DISPATCH_FLOATING_TYPES(c1.scalar_type(), "fourier_forward", [&] {
    forward_kernel<scalar_t>(c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), c1.numel(),
                             n, layout);
  });
  return out;
}

// grad: the shape fourier_forward returned -> gradient with respect to the angle, (*)
at::Tensor fourier_backward(at::Tensor grad, at::Tensor c1, at::Tensor s1, int64_t n, bool rows, bool constant) {
  check(c1, s1);
  const Layout layout = make_layout(c1, n, rows, constant);
  grad = grad.contiguous();
  TORCH_CHECK(grad.numel() == c1.numel() * layout.width, "fourier_cpu: bad gradient shape");
  auto grad_angle = at::empty_like(c1);
  AT_DISPATCH_FLOATING_TYPES(c1.scalar_type(), "fourier_backward", [&] {
    backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(),
                              grad_angle.data_ptr<scalar_t>(), c1.numel(), n, layout);
  });
  return grad_angle;
}
