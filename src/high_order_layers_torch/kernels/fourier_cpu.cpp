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

#include <algorithm>
#include <vector>

namespace {

constexpr int64_t kGrain = 2048;

// The values' layout: `width` = 2 n + first values per element, the leading 1 only with `first`;
// `inputs` > 0 selects the (B, width, inputs) layout, else (*, width).
struct Layout {
  int64_t width, first, inputs;
};

// c = c_k = cos(k a) and s = s_k = sin(k a), from k = 1 (c_1, s_1); advance() steps k by the
// recurrence c_{k+1} = 2 c_1 c_k - c_{k-1}, s_{k+1} = 2 c_1 s_k - s_{k-1} (c_0 = 1, s_0 = 0).
template <typename T>
struct Harmonic {
  T twice, previous_c = T(1), previous_s = T(0), c, s;

  Harmonic(T c1, T s1) : twice(c1 + c1), c(c1), s(s1) {}

  void advance() {
    const T next_c = twice * c - previous_c, next_s = twice * s - previous_s;
    previous_c = c;
    previous_s = s;
    c = next_c;
    s = next_s;
  }
};

// (*, width): one element's values are contiguous.
template <typename T>
void forward_kernel(const T* c1, const T* s1, T* out, int64_t count, int64_t n, Layout layout) {
  const int64_t f = layout.first;
  at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      T* o = out + e * layout.width;
      if (f) o[0] = T(1);
      if (n == 0) continue;
      Harmonic<T> h(c1[e], s1[e]);
      o[f] = h.c;
      o[f + n] = h.s;
      for (int64_t k = 2; k <= n; ++k) {
        h.advance();
        o[f + k - 1] = h.c;
        o[f + n + k - 1] = h.s;
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* grad, const T* c1, const T* s1, T* grad_angle, int64_t count, int64_t n,
                     Layout layout) {
  const int64_t f = layout.first;
  at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      const T* g = grad + e * layout.width;
      Harmonic<T> h(c1[e], s1[e]);
      // d c_k / d a = -k s_k, d s_k / d a = k c_k
      T sum = n == 0 ? T(0) : g[f + n] * h.c - g[f] * h.s;
      for (int64_t k = 2; k <= n; ++k) {
        h.advance();
        sum += T(k) * (g[f + n + k - 1] * h.c - g[f + k - 1] * h.s);
      }
      grad_angle[e] = sum;
    }
  });
}

// (B, width, I): each harmonic is a row of I values, built from the two rows before it, so every
// loop runs over contiguous inputs and vectorises.
template <typename T>
void rows_forward_kernel(const T* c1, const T* s1, T* out, int64_t B, int64_t n, Layout layout) {
  const int64_t I = layout.inputs, f = layout.first;
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const T* c = c1 + b * I;
      const T* s = s1 + b * I;
      T* o = out + b * layout.width * I;
      if (f) std::fill(o, o + I, T(1));
      if (n == 0) continue;
      std::copy(c, c + I, o + f * I);
      std::copy(s, s + I, o + (f + n) * I);
      for (int64_t k = 2; k <= n; ++k) {
        T* ck = o + (f + k - 1) * I;
        T* sk = o + (f + n + k - 1) * I;
        const T* c_older = k == 2 ? nullptr : ck - 2 * I;
        const T* s_older = k == 2 ? nullptr : sk - 2 * I;
        const T* c_old = ck - I;
        const T* s_old = sk - I;
#pragma omp simd
        for (int64_t i = 0; i < I; ++i) {
          const T twice = c[i] + c[i];
          ck[i] = twice * c_old[i] - (k == 2 ? T(1) : c_older[i]);  // c_0 = 1
          sk[i] = twice * s_old[i] - (k == 2 ? T(0) : s_older[i]);  // s_0 = 0
        }
      }
    }
  });
}

template <typename T>
void rows_backward_kernel(const T* grad, const T* c1, const T* s1, T* grad_angle, int64_t B, int64_t n,
                          Layout layout) {
  const int64_t I = layout.inputs, f = layout.first;
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    // c_{k-1}, c_k, s_{k-1}, s_k of one row, advanced together
    std::vector<T> c_old(I), c_now(I), s_old(I), s_now(I);
    for (int64_t b = begin; b < end; ++b) {
      const T* c = c1 + b * I;
      const T* s = s1 + b * I;
      const T* g = grad + b * layout.width * I;
      T* out = grad_angle + b * I;
      if (n == 0) {
        std::fill(out, out + I, T(0));
        continue;
      }
      const T* gc = g + f * I;
      const T* gs = g + (f + n) * I;
#pragma omp simd
      for (int64_t i = 0; i < I; ++i) {
        out[i] = gs[i] * c[i] - gc[i] * s[i];  // d c_1 / d a = -s_1, d s_1 / d a = c_1
        c_old[i] = T(1);
        s_old[i] = T(0);
        c_now[i] = c[i];
        s_now[i] = s[i];
      }
      for (int64_t k = 2; k <= n; ++k) {
        gc = g + (f + k - 1) * I;
        gs = g + (f + n + k - 1) * I;
        T* co = c_old.data();
        T* cn = c_now.data();
        T* so = s_old.data();
        T* sn = s_now.data();
#pragma omp simd
        for (int64_t i = 0; i < I; ++i) {
          const T twice = c[i] + c[i];
          const T next_c = twice * cn[i] - co[i], next_s = twice * sn[i] - so[i];
          co[i] = cn[i];
          so[i] = sn[i];
          cn[i] = next_c;
          sn[i] = next_s;
          out[i] += T(k) * (gs[i] * next_c - gc[i] * next_s);
        }
      }
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
  const int64_t first = constant ? 1 : 0;
  return Layout{2 * n + first, first, rows ? c1.size(1) : 0};
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
    if (rows)
      rows_forward_kernel<scalar_t>(c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                                    c1.size(0), n, layout);
    else
      forward_kernel<scalar_t>(c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                               c1.numel(), n, layout);
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
    if (rows)
      rows_backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(),
                                     grad_angle.data_ptr<scalar_t>(), c1.size(0), n, layout);
    else
      backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), c1.data_ptr<scalar_t>(), s1.data_ptr<scalar_t>(),
                                grad_angle.data_ptr<scalar_t>(), c1.numel(), n, layout);
  });
  return grad_angle;
}
