// Fused piecewise-polynomial basis expansion for convolutions on the CPU: forward and backward.
//
//   dense[b, c * M + start(x) + k, p] = phi_k(t(x)),  x = x[b, c, p], k < K,
//
// every other entry 0: the channels-first layout that a convolution with the
// (out, in * M, *kernel) weight reads. With `clamp` the input is first limited to [-1, 1] (the
// default out-of-range policy) and its gradient is zero outside. The backward reads only the K
// active gradient entries of each element, so it costs B * C * P * K whatever the number of
// segments. Work is split over the (b, c) rows, which own disjoint blocks of the output.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "piecewise_basis.h"

namespace {

using namespace high_order_layers;

template <typename T>
void forward_kernel(const T* x, T* dense, int64_t rows, int64_t P, const Basis& basis, const T* nodes,
                    const T* weights) {
  const int64_t K = basis.K, M = basis.M;
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> start(P);
    std::vector<T> t(P), phi(K * P), scratch(K * P);
    for (int64_t r = begin; r < end; ++r) {
      locate_row(x + r * P, P, basis, start.data(), t.data());
      T* out = dense + r * M * P;
      if (K == M) {  // one piece: every weight is active, so the basis values are the block
        lagrange_row(t.data(), P, K, nodes, weights, false, out, scratch.data());
        continue;
      }
      lagrange_row(t.data(), P, K, nodes, weights, false, phi.data(), scratch.data());
      std::fill(out, out + M * P, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T* phik = phi.data() + k * P;
        T* row = out + k * P;
        for (int64_t p = 0; p < P; ++p) row[start[p] * P + p] = phik[p];
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* grad_dense, const T* x, T* grad_x, int64_t rows, int64_t P, const Basis& basis,
                     const T* nodes, const T* weights) {
  const int64_t K = basis.K, M = basis.M;
  const T scale = T(basis.segments);  // d t / d x
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> start(P);
    std::vector<T> t(P), dphi(K * P), scratch(K * P);
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * P;
      const T* g = grad_dense + r * M * P;
      T* gx = grad_x + r * P;
      locate_row(xr, P, basis, start.data(), t.data());
      lagrange_row(t.data(), P, K, nodes, weights, true, dphi.data(), scratch.data());
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) gx[p] = T(0);
      for (int64_t k = 0; k < K; ++k) {
        const T* dphik = dphi.data() + k * P;
        const T* row = g + k * P;
        if (K == M) {  // one piece: the active entries are the whole block, read in order
#pragma omp simd
          for (int64_t p = 0; p < P; ++p) gx[p] += row[p] * dphik[p];
        } else {
#pragma omp simd
          for (int64_t p = 0; p < P; ++p) gx[p] += row[start[p] * P + p] * dphik[p];
        }
      }
      const bool clamp = basis.clamp;
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) {
        // clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp's backward
        const bool inside = !clamp || (xr[p] >= T(-1) && xr[p] <= T(1));
        gx[p] = inside ? gx[p] * scale : T(0);
      }
    }
  });
}

Basis checked_basis(const at::Tensor& x, const at::Tensor& nodes, int64_t segments, int64_t stride,
                    int64_t num_weights, bool clamp) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "expand_cpu: x must be a contiguous (B, C, P) tensor");
  return make_basis(nodes.size(0), segments, stride, num_weights, clamp);
}

}  // namespace

// x: (B, C, P), nodes: (K,) float64 local nodes -> (B, C * M, P)
at::Tensor expand_forward(at::Tensor x, at::Tensor nodes, int64_t segments, int64_t stride, int64_t num_weights,
                          bool clamp) {
  const Basis basis = checked_basis(x, nodes, segments, stride, num_weights, clamp);
  const int64_t B = x.size(0), C = x.size(1), P = x.size(2);
  auto dense = at::empty({B, C * basis.M, P}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "expand_forward", [&] {
    const Nodes<scalar_t> local(nodes);
    forward_kernel<scalar_t>(x.data_ptr<scalar_t>(), dense.data_ptr<scalar_t>(), B * C, P, basis, local.nodes.data(),
                             local.weights.data());
  });
  return dense;
}

// grad_dense: (B, C * M, P), x: (B, C, P) -> grad_x (B, C, P)
at::Tensor expand_backward(at::Tensor grad_dense, at::Tensor x, at::Tensor nodes, int64_t segments, int64_t stride,
                           int64_t num_weights, bool clamp) {
  const Basis basis = checked_basis(x, nodes, segments, stride, num_weights, clamp);
  grad_dense = grad_dense.contiguous();
  const int64_t B = x.size(0), C = x.size(1), P = x.size(2);
  TORCH_CHECK(grad_dense.sizes() == at::IntArrayRef({B, C * basis.M, P}), "expand_cpu: bad gradient shape");
  auto grad_x = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "expand_backward", [&] {
    const Nodes<scalar_t> local(nodes);
    backward_kernel<scalar_t>(grad_dense.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(),
                              B * C, P, basis, local.nodes.data(), local.weights.data());
  });
  return grad_x;
}

namespace {

// Chebyshev polynomials T_1 .. T_{n-1} of the (optionally clamped) input, one output row per
// degree: the expansion of a one-piece polynomial whose constant term has been moved into a bias.
// With `derivative`, T_j' = j U_{j-1} instead (U: Chebyshev polynomials of the second kind).
template <typename T>
void chebyshev_row(const T* __restrict x, int64_t P, int64_t n, bool clamp, bool derivative, T* __restrict out,
                   T* __restrict t, T* __restrict previous, T* __restrict current) {
  const T infinity = std::numeric_limits<T>::infinity();
  const T low = clamp ? T(-1) : -infinity, high = clamp ? T(1) : infinity;
#pragma omp simd
  for (int64_t p = 0; p < P; ++p) {
    const T value = x[p];
    t[p] = value < low ? low : (value > high ? high : value);
    previous[p] = T(1);                             // T_0 or U_0
    current[p] = derivative ? T(2) * t[p] : t[p];  // T_1 or U_1
  }
  for (int64_t j = 1; j < n; ++j) {
    T* row = out + (j - 1) * P;
    if (derivative) {  // T_j' = j U_{j-1}
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) row[p] = T(j) * previous[p];
    } else {
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) row[p] = current[p];
    }
#pragma omp simd
    for (int64_t p = 0; p < P; ++p) {
      const T next = T(2) * t[p] * current[p] - previous[p];
      previous[p] = current[p];
      current[p] = next;
    }
  }
}

template <typename T>
void chebyshev_backward_kernel(const T* grad, const T* x, T* grad_x, int64_t rows, int64_t P, int64_t n, bool clamp) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> slopes((n - 1) * P), t(P), previous(P), current(P);
    for (int64_t r = begin; r < end; ++r) {
      chebyshev_row(x + r * P, P, n, clamp, true, slopes.data(), t.data(), previous.data(), current.data());
      const T* g = grad + r * (n - 1) * P;
      const T* xr = x + r * P;
      T* out = grad_x + r * P;
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) out[p] = T(0);
      for (int64_t j = 0; j < n - 1; ++j) {
        const T* gj = g + j * P;
        const T* sj = slopes.data() + j * P;
#pragma omp simd
        for (int64_t p = 0; p < P; ++p) out[p] += gj[p] * sj[p];
      }
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) {
        // clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp's backward
        const bool inside = !clamp || (xr[p] >= T(-1) && xr[p] <= T(1));
        out[p] = inside ? out[p] : T(0);
      }
    }
  });
}

template <typename T>
void chebyshev_forward_kernel(const T* x, T* out, int64_t rows, int64_t P, int64_t n, bool clamp) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> t(P), previous(P), current(P);
    for (int64_t r = begin; r < end; ++r)
      chebyshev_row(x + r * P, P, n, clamp, false, out + r * (n - 1) * P, t.data(), previous.data(), current.data());
  });
}

}  // namespace

// x: (B, C, P) -> (B, C * (n - 1), P), rows T_1 .. T_{n-1}
at::Tensor chebyshev_forward(at::Tensor x, int64_t n, bool clamp) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "chebyshev_cpu: x must be a contiguous (B, C, P) tensor");
  TORCH_CHECK(n >= 2, "chebyshev_cpu: n must be at least 2");
  const int64_t B = x.size(0), C = x.size(1), P = x.size(2);
  auto out = at::empty({B, C * (n - 1), P}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "chebyshev_forward", [&] {
    chebyshev_forward_kernel<scalar_t>(x.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), B * C, P, n, clamp);
  });
  return out;
}

// grad: (B, C * (n - 1), P), x: (B, C, P) -> grad_x (B, C, P)
at::Tensor chebyshev_backward(at::Tensor grad, at::Tensor x, int64_t n, bool clamp) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "chebyshev_cpu: x must be a contiguous (B, C, P) tensor");
  grad = grad.contiguous();
  const int64_t B = x.size(0), C = x.size(1), P = x.size(2);
  TORCH_CHECK(grad.sizes() == at::IntArrayRef({B, C * (n - 1), P}), "chebyshev_cpu: bad gradient shape");
  auto grad_x = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "chebyshev_backward", [&] {
    chebyshev_backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(),
                                        B * C, P, n, clamp);
  });
  return grad_x;
}
