// Piecewise Lagrange bases on the CPU: piece lookup and the basis polynomials (values or
// derivatives) for a row of inputs, shared by the expansion and gather kernels.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace high_order_layers {

struct Basis {
  int64_t segments, stride, K, M;
  bool clamp;
};

// Piece offsets and local coordinates of one row, exactly as functional.locate_segments
// computes them (after the optional clamp, which keeps NaN). Branch-free, and with the floor
// taken by truncating the already limited value (equal there, and unlike std::floor, GCC
// vectorises it), so the loop vectorises.
template <typename T>
void locate_row(const T* __restrict x, int64_t P, const Basis& basis, int32_t* __restrict start, T* __restrict t) {
  const T half_segments = T(0.5 * basis.segments), last = T(basis.segments - 1);
  const T infinity = std::numeric_limits<T>::infinity();
  const T low = basis.clamp ? T(-1) : -infinity, high = basis.clamp ? T(1) : infinity;
  const int32_t stride = static_cast<int32_t>(basis.stride);
#pragma omp simd
  for (int64_t p = 0; p < P; ++p) {
    T value = x[p];
    value = value < low ? low : (value > high ? high : value);
    const T scaled = (value + T(1)) * half_segments;
    const T limited = scaled > T(0) ? (scaled < last ? scaled : last) : T(0);  // NaN -> 0
    const int32_t piece = static_cast<int32_t>(limited);
    t[p] = (scaled - T(piece)) * T(2) - T(1);  // NaN stays NaN
    start[p] = piece * stride;
  }
}

// The K Lagrange basis polynomials in product form, phi_k(t) = w_k prod_{j != k} (t - node_j)
// (w: barycentric weights), or with `derivative` their derivatives, accumulated as dual numbers.
// Output: phi[k * P + p]; `slope` is scratch of the same size.
template <typename T>
void lagrange_row(const T* t, int64_t P, int64_t K, const T* nodes, const T* weights, bool derivative, T* phi,
                  T* slope) {
  for (int64_t k = 0; k < K; ++k) {
    T* value = phi + k * P;
    T* dvalue = slope + k * P;
    const T w = weights[k];
#pragma omp simd
    for (int64_t p = 0; p < P; ++p) {
      value[p] = w;
      dvalue[p] = T(0);
    }
    for (int64_t j = 0; j < K; ++j) {
      if (j == k) continue;
      const T node = nodes[j];
      if (derivative) {
#pragma omp simd
        for (int64_t p = 0; p < P; ++p) {
          const T factor = t[p] - node;
          dvalue[p] = dvalue[p] * factor + value[p];
          value[p] *= factor;
        }
      } else {
#pragma omp simd
        for (int64_t p = 0; p < P; ++p) value[p] *= t[p] - node;
      }
    }
    if (derivative) std::copy(dvalue, dvalue + P, value);
  }
}

// Barycentric weights 1 / prod_{j != k} (node_k - node_j), computed in double.
inline std::vector<double> barycentric_weights(const at::Tensor& nodes) {
  TORCH_CHECK(nodes.dim() == 1 && nodes.scalar_type() == at::kDouble && nodes.is_contiguous(),
              "nodes must be a contiguous float64 (K,) tensor");
  const double* node = nodes.data_ptr<double>();
  const int64_t K = nodes.size(0);
  std::vector<double> weights(K, 1.0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < K; ++j)
      if (j != k) weights[k] /= node[k] - node[j];
  return weights;
}

// The nodes and barycentric weights of a basis in the kernel's precision.
template <typename T>
struct Nodes {
  std::vector<T> nodes, weights;
  explicit Nodes(const at::Tensor& local_nodes) {
    const std::vector<double> w = barycentric_weights(local_nodes);
    const double* node = local_nodes.data_ptr<double>();
    nodes.assign(node, node + local_nodes.size(0));
    weights.assign(w.begin(), w.end());
  }
};

// The samples of one input ordered by their first active weight: order[r] for r in
// [first[s], first[s + 1]) all start at weight s (a counting sort; `runs` = M - K + 1 keys).
inline void sort_by_start(const int32_t* start, int64_t B, int64_t runs, int32_t* order, int32_t* first,
                          int32_t* cursor) {
  std::fill(first, first + runs + 1, 0);
  for (int64_t b = 0; b < B; ++b) ++first[start[b] + 1];
  for (int64_t s = 0; s < runs; ++s) first[s + 1] += first[s];
  std::copy(first, first + runs, cursor);
  for (int64_t b = 0; b < B; ++b) order[cursor[start[b]]++] = static_cast<int32_t>(b);
}

inline Basis make_basis(int64_t K, int64_t segments, int64_t stride, int64_t num_weights, bool clamp) {
  TORCH_CHECK(segments >= 1 && K >= 1 && (segments - 1) * stride + K == num_weights, "inconsistent basis sizes");
  return Basis{segments, stride, K, num_weights, clamp};
}

}  // namespace high_order_layers
