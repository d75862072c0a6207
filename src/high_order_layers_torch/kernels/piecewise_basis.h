// Piecewise bases on the CPU: piece lookup and the basis polynomials (values or derivatives) for
// a row of inputs, Lagrange polynomials on each piece's nodes or the uniform B-splines nonzero on
// it, shared by the expansion, gather and product kernels, and the
// transposition between the layers' (O, I, M) weight and the (M, O) slab of one input that the
// gather and product kernels compute with.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace high_order_layers {

struct Basis {
  int64_t segments, stride, K, M;
  bool clamp;
  // the K uniform B-splines of order K nonzero on each piece (stride 1), not Lagrange polynomials
  bool bspline = false;
};

// The one place where a kernel specialised on K (the active weights of a link, nodes per piece)
// is chosen at run time: make(std::integral_constant<int, K>{}) for K = k in 1..8, and
// make(std::integral_constant<int, 0>{}) for any other k, which each caller maps to its general
// version. `make` states its return type, so every case returns the same one.
template <typename Make>
auto dispatch_active_count(int64_t k, Make make) {
  switch (k) {
    case 1: return make(std::integral_constant<int, 1>{});
    case 2: return make(std::integral_constant<int, 2>{});
    case 3: return make(std::integral_constant<int, 3>{});
    case 4: return make(std::integral_constant<int, 4>{});
    case 5: return make(std::integral_constant<int, 5>{});
    case 6: return make(std::integral_constant<int, 6>{});
    case 7: return make(std::integral_constant<int, 7>{});
    case 8: return make(std::integral_constant<int, 8>{});
    default: return make(std::integral_constant<int, 0>{});
  }
}

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

// The K uniform B-splines of order K (degree K - 1, K >= 2) nonzero on a piece, at its local
// coordinates t in [-1, 1] (u = (t + 1) / 2 in [0, 1]; beyond, the end pieces' polynomials), in
// the order of their weights: phi[k * P + p] = N_k(u) with N_k the cardinal B-spline at
// u + K - 1 - k, as functional.bspline_values. The Cox-de Boor recurrence on integer knots,
// N^d_j = ((u + d - j) N^{d-1}_{j-1} + (j + 1 - u) N^{d-1}_j) / d, in place from the highest j
// down; with `derivative`, d/dt of each: (N^{K-2}_{j-1} - N^{K-2}_j) / 2. `scratch` holds P values.
template <typename T>
void bspline_row(const T* t, int64_t P, int64_t K, bool derivative, T* phi, T* scratch) {
  T* u = scratch;
#pragma omp simd
  for (int64_t p = 0; p < P; ++p) {
    u[p] = (t[p] + T(1)) * T(0.5);
    phi[p] = T(1);
  }
  const int64_t degree = derivative ? K - 2 : K - 1;
  for (int64_t d = 1; d <= degree; ++d) {
    const T inverse = T(1) / T(d);
    T* top = phi + d * P;
    const T* below = phi + (d - 1) * P;
#pragma omp simd
    for (int64_t p = 0; p < P; ++p) top[p] = u[p] * below[p] * inverse;
    for (int64_t j = d - 1; j >= 1; --j) {
      T* value = phi + j * P;
      const T* left = phi + (j - 1) * P;
      const T shift = T(d - j), right = T(j + 1);
#pragma omp simd
      for (int64_t p = 0; p < P; ++p) value[p] = ((u[p] + shift) * left[p] + (right - u[p]) * value[p]) * inverse;
    }
#pragma omp simd
    for (int64_t p = 0; p < P; ++p) phi[p] = (T(1) - u[p]) * phi[p] * inverse;
  }
  if (!derivative) return;
  T* last = phi + (K - 1) * P;
  const T* previous = phi + (K - 2) * P;
#pragma omp simd
  for (int64_t p = 0; p < P; ++p) last[p] = T(0.5) * previous[p];
  for (int64_t j = K - 2; j >= 1; --j) {
    T* value = phi + j * P;
    const T* left = phi + (j - 1) * P;
#pragma omp simd
    for (int64_t p = 0; p < P; ++p) value[p] = T(0.5) * (left[p] - value[p]);
  }
#pragma omp simd
  for (int64_t p = 0; p < P; ++p) phi[p] = T(-0.5) * phi[p];
}

// The basis values (or derivatives in t) of a row: B-splines or Lagrange polynomials, as `basis`
// says (the nodes and weights are those of the Lagrange polynomials; unused for B-splines).
template <typename T>
void basis_row(const T* t, int64_t P, const Basis& basis, const T* nodes, const T* weights, bool derivative, T* phi,
               T* scratch) {
  if (basis.bspline) {
    bspline_row(t, P, basis.K, derivative, phi, scratch);
  } else {
    lagrange_row(t, P, basis.K, nodes, weights, derivative, phi, scratch);
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
  Nodes() = default;  // none: a B-spline basis
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

// dst[c * ld_dst + r] = src[r * ld_src + c] for r < rows, c < cols: a small tile, one element at a time.
template <typename T>
inline void transpose_scalar(const T* __restrict src, int64_t ld_src, T* __restrict dst, int64_t ld_dst, int64_t rows,
                             int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ld_dst + r] = src[r * ld_src + c];
}

// The same for a full square tile of Tile<T>::size, in vector registers where the build targets AVX
// (8 x 8 floats, 4 x 4 doubles); a pure copy, so the instruction set changes no value.
template <typename T>
struct Tile {
#if defined(__AVX__)
  static constexpr int64_t size = 32 / sizeof(T);
#else
  static constexpr int64_t size = 8;
#endif
  static void transpose(const T* __restrict src, int64_t ld_src, T* __restrict dst, int64_t ld_dst) {
    transpose_scalar(src, ld_src, dst, ld_dst, size, size);
  }
};

#if defined(__AVX__)
template <>
inline void Tile<float>::transpose(const float* __restrict src, int64_t ld_src, float* __restrict dst,
                                   int64_t ld_dst) {
  __m256 r[8], t[8], s[8];
  for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + j * ld_src);
  for (int j = 0; j < 8; j += 2) {
    t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
    t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
  }
  for (int j = 0; j < 8; j += 4) {
    s[j] = _mm256_shuffle_ps(t[j], t[j + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * ld_dst, _mm256_permute2f128_ps(s[j], s[j + 4], 0x20));
    _mm256_storeu_ps(dst + (j + 4) * ld_dst, _mm256_permute2f128_ps(s[j], s[j + 4], 0x31));
  }
}

template <>
inline void Tile<double>::transpose(const double* __restrict src, int64_t ld_src, double* __restrict dst,
                                    int64_t ld_dst) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ld_src);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * ld_src), r3 = _mm256_loadu_pd(src + 3 * ld_src);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + ld_dst, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * ld_dst, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * ld_dst, _mm256_permute2f128_pd(t1, t3, 0x31));
}
#endif

// dst[c * ld_dst + r] = src[r * ld_src + c] for r < rows, c < cols, in square tiles (vector
// registers where the build has AVX). With `dst_bands` the tiles go a band of destination rows at
// a time (each destination row written as one sequential stream), else a band of source rows at a
// time (each source row read as one sequential stream); the order changes no value.
template <typename T>
void transpose(const T* __restrict src, int64_t ld_src, T* __restrict dst, int64_t ld_dst, int64_t rows,
               int64_t cols, bool dst_bands = false) {
  constexpr int64_t S = Tile<T>::size;
  if (dst_bands) {
    int64_t c = 0;
    for (; c + S <= cols; c += S) {
      int64_t r = 0;
      for (; r + S <= rows; r += S) Tile<T>::transpose(src + r * ld_src + c, ld_src, dst + c * ld_dst + r, ld_dst);
      transpose_scalar(src + r * ld_src + c, ld_src, dst + c * ld_dst + r, ld_dst, rows - r, S);
    }
    transpose_scalar(src + c, ld_src, dst + c * ld_dst, ld_dst, rows, cols - c);
    return;
  }
  int64_t r = 0;
  for (; r + S <= rows; r += S) {
    int64_t c = 0;
    for (; c + S <= cols; c += S) Tile<T>::transpose(src + r * ld_src + c, ld_src, dst + c * ld_dst + r, ld_dst);
    transpose_scalar(src + r * ld_src + c, ld_src, dst + c * ld_dst + r, ld_dst, S, cols - c);
  }
  transpose_scalar(src + r * ld_src, ld_src, dst + r, ld_dst, rows - r, cols);
}

// Thread-local memory for slabs, aligned as torch aligns tensors (64 bytes), so the vector loads
// and stores of a slab's rows split no cache lines, as with the tensors the kernels once read.
template <typename T>
class AlignedBuffer {
 public:
  explicit AlignedBuffer(int64_t size)
      : data_(static_cast<T*>(std::aligned_alloc(64, (std::max<int64_t>(size, 1) * sizeof(T) + 63) / 64 * 64))) {
    TORCH_CHECK(data_ != nullptr, "out of memory");
  }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  T* data() const { return data_; }

 private:
  T* data_;
};

// The slabs of the inputs i0 .. i0 + n of a contiguous (O, I, M) weight, one after another:
// slabs[((i - i0) * M + m) * O + o] = weight[(o * I + i) * M + m]. For each o the n inputs' weights
// are n * M contiguous values, so consecutive inputs are read as one run per row.
template <typename T>
void read_slabs(const T* __restrict weight, int64_t i0, int64_t n, int64_t I, int64_t M, int64_t O,
                T* __restrict slabs) {
  transpose(weight + i0 * M, I * M, slabs, O, O, n * M);
}

// Input i's slab: slab[m * O + o] = weight[(o * I + i) * M + m].
template <typename T>
void read_slab(const T* __restrict weight, int64_t i, int64_t I, int64_t M, int64_t O, T* __restrict slab) {
  read_slabs(weight, i, 1, I, M, O, slab);
}

// The inverse of read_slabs: weight[(o * I + i) * M + m] = slabs[((i - i0) * M + m) * O + o], a band
// of rows of the weight at a time, so each row's n * M values are written as one stream.
template <typename T>
void write_slabs(const T* __restrict slabs, int64_t i0, int64_t n, int64_t I, int64_t M, int64_t O,
                 T* __restrict weight) {
  transpose(slabs, O, weight + i0 * M, I * M, n * M, O, true);
}

// The inverse of read_slab: weight[(o * I + i) * M + m] = slab[m * O + o].
template <typename T>
void write_slab(const T* __restrict slab, int64_t i, int64_t I, int64_t M, int64_t O, T* __restrict weight) {
  transpose(slab, O, weight + i * M, I * M, M, O);
}

// How many consecutive inputs' slabs to transpose at once: as many as fit in `bytes` (at least one).
inline int64_t slab_block(int64_t M, int64_t O, int64_t element_size, int64_t bytes) {
  return std::max<int64_t>(1, bytes / std::max<int64_t>(1, M * O * element_size));
}

inline Basis make_basis(int64_t K, int64_t segments, int64_t stride, int64_t num_weights, bool clamp) {
  TORCH_CHECK(segments >= 1 && K >= 1 && (segments - 1) * stride + K == num_weights, "inconsistent basis sizes");
  return Basis{segments, stride, K, num_weights, clamp};
}

}  // namespace high_order_layers
