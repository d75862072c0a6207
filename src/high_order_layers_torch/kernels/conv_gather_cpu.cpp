// Gather convolutions of piecewise Lagrange links on the CPU, forward and backward: every link
// (output channel, input channel, kernel tap) reads only the K active weights of the piece its
// input falls in, so the multiply-adds are those of an ordinary convolution over C * K channels
// whatever the number of segments, and no (B, C * M, *spatial) expansion is ever stored.
//
//   y[b, o, r] = sum_{c in group(o)} sum_{j : p = taps[r, j] >= 0} sum_k phi_k(t[b, c, p]) * w[c, j, start + k, o]
//
// `taps` (R x J, int32, built by the caller) says which input position p each output position r
// reads through kernel tap j, or -1 where it reads none (zero padding, strides of transposed
// convolutions, borders). One table covers convolutions and transposed convolutions in any
// number of spatial dimensions with any stride, dilation and padding: the kernels never see the
// geometry. The kernels first copy the layers' weight into slabs (C, J, M, Opad): the links of one
// (channel, tap) pair are a contiguous (M x Opad) slab, with the group's outputs padded with zero
// columns up to a whole number of vector registers, so no loop has a remainder; the weight
// gradient is written back in the layers' layout the same way.
//
// Forward: work is split over (sample, group, block of output positions); the basis of every input
// element of the group is computed once per item, each output row's accumulators stay in vector
// registers over all the links that feed it (several rows at a time), and the channels go in tiles
// whose slabs stay in cache.
// Backward: split over (input channel, range of samples), so the input gradient of a channel and
// the weight gradient of its slabs belong to one thread (ranges of samples write separate copies
// of the weight gradient, summed afterwards, when there are fewer channels than threads). The
// input gradient goes position by position through the inverse table (P x J: which output reads
// input position p through tap j); the weight gradient pools the positions of a few samples,
// sorts them by piece and sums each run of one piece in registers before adding it to the slab.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "piecewise_basis.h"
#include "vector_lanes.h"

namespace {

using namespace high_order_layers;

// The sizes of one call.
struct ConvShape {
  int64_t B, C, P;  // samples, input channels, input positions
  int64_t G, Cg, Og, Opad;  // groups, channels and outputs per group, outputs padded to whole vectors
  int64_t R, J;  // output positions, kernel taps
};

// The basis of one input row: start[p] and the K values (or derivatives) phi[p * K + k], element
// major, so a link reads its K values from one cache line.
template <typename T>
class RowBasis {
 public:
  RowBasis(int64_t P, int64_t K) : P_(P), K_(K), t_(P), kmajor_(K * P), scratch_(K * P) {}

  void locate(const T* x, const Basis& basis, int32_t* start) { locate_row(x, P_, basis, start, t_.data()); }

  void values(const T* nodes, const T* weights, bool derivative, T* out) {
    lagrange_row(t_.data(), P_, K_, nodes, weights, derivative, kmajor_.data(), scratch_.data());
    for (int64_t k = 0; k < K_; ++k)
      for (int64_t p = 0; p < P_; ++p) out[p * K_ + k] = kmajor_[k * P_ + p];
  }

 private:
  int64_t P_, K_;
  std::vector<T> t_, kmajor_, scratch_;
};

#if defined(__AVX512F__)
constexpr int kAccumulators = 8;  // 64-byte vectors of accumulators a tile keeps in registers
#else
constexpr int kAccumulators = 4;
#endif

// Output rows r0 .. r1 of one sample and group, for the NV vectors of outputs starting at o:
// acc[(r - r0) * Opad + o ..] += the links from the group's channels c0 .. c1 (numbered within the
// group; the group's first channel is `group_channel`), or = them with `first`. RB rows at a time,
// so RB * NV independent chains of multiply-adds hide their latency; each row adds its links in
// the same order whatever RB is, so the blocking changes no value. `offset[e]` is start[e] * Opad.
// KT is K where it is known at compile time (the K multiply-adds of a link then unroll), else 0.
template <typename T, int KT, int NV, int RB>
void forward_rows(const T* wt, const int32_t* taps, const int32_t* offset, const T* phi, T* acc, int64_t r0,
                  int64_t r1, int64_t group_channel, int64_t c0, int64_t c1, bool first, const ConvShape& s,
                  int64_t M, int64_t K_runtime, int64_t o) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  const int64_t K = KT > 0 ? KT : K_runtime;
  const int64_t slab_size = s.J * M * s.Opad;  // one channel's slabs
  int64_t r = r0;
  for (; r + RB <= r1; r += RB) {
    V a[RB][NV];
    for (int q = 0; q < RB; ++q)
      for (int v = 0; v < NV; ++v) a[q][v] = first ? V{} : load(acc + (r + q - r0) * s.Opad + o + v * L);
    for (int64_t j = 0; j < s.J; ++j) {
      int64_t p[RB];
      for (int q = 0; q < RB; ++q) p[q] = taps[(r + q) * s.J + j];
      const T* slab = wt + ((group_channel + c0) * s.J + j) * M * s.Opad + o;
      for (int64_t c = c0; c < c1; ++c, slab += slab_size) {
        const int64_t row = c * s.P;
        for (int q = 0; q < RB; ++q) {
          if (p[q] < 0) continue;
          const int64_t e = row + p[q];
          const T* w = slab + offset[e];
          const T* ph = phi + e * K;
          for (int64_t k = 0; k < K; ++k) {
            const T value = ph[k];
            for (int v = 0; v < NV; ++v) a[q][v] += value * load(w + k * s.Opad + v * L);
          }
        }
      }
    }
    for (int q = 0; q < RB; ++q)
      for (int v = 0; v < NV; ++v) store(acc + (r + q - r0) * s.Opad + o + v * L, a[q][v]);
  }
  if constexpr (RB > 1) {
    if (r < r1)
      forward_rows<T, KT, NV, 1>(wt, taps, offset, phi, acc + (r - r0) * s.Opad, r, r1, group_channel, c0, c1, first,
                                 s, M, K, o);
  }
}

template <typename T, int KT>
void forward_block(const T* wt, const int32_t* taps, const int32_t* offset, const T* phi, T* acc, int64_t r0,
                   int64_t r1, int64_t group_channel, int64_t c0, int64_t c1, bool first, const ConvShape& s,
                   int64_t M, int64_t K) {
  constexpr int64_t L = Lanes<T>::size;
  constexpr int kRows4 = kAccumulators / 4 > 1 ? kAccumulators / 4 : 1;
  constexpr int kRows2 = kAccumulators / 2, kRows1 = kAccumulators;
  int64_t o = 0;
  for (; o + 4 * L <= s.Opad; o += 4 * L)
    forward_rows<T, KT, 4, kRows4>(wt, taps, offset, phi, acc, r0, r1, group_channel, c0, c1, first, s, M, K, o);
  for (; o + 2 * L <= s.Opad; o += 2 * L)
    forward_rows<T, KT, 2, kRows2>(wt, taps, offset, phi, acc, r0, r1, group_channel, c0, c1, first, s, M, K, o);
  if (o < s.Opad)
    forward_rows<T, KT, 1, kRows1>(wt, taps, offset, phi, acc, r0, r1, group_channel, c0, c1, first, s, M, K, o);
}

template <typename T>
using ForwardBlock = void (*)(const T*, const int32_t*, const int32_t*, const T*, T*, int64_t, int64_t, int64_t,
                              int64_t, int64_t, bool, const ConvShape&, int64_t, int64_t);

template <typename T>
ForwardBlock<T> forward_block_for(int64_t K) {
  return dispatch_active_count(K, [](auto k) -> ForwardBlock<T> { return forward_block<T, decltype(k)::value>; });
}

// Bytes of slabs a forward tile of channels reads (they stay in L2 over a block of output rows).
constexpr int64_t kSlabBytes = 512 * 1024;

// Output rows per block: a block's accumulators (rows x Opad) stay in L1/L2 until written out.
constexpr int64_t kRowBlock = 64;

template <typename T>
void forward_kernel(const T* x, const T* wt, const int32_t* taps, T* y, const ConvShape& s, const Basis& basis,
                    const T* nodes, const T* weights, int64_t tiles) {
  const int64_t K = basis.K, M = basis.M, O = s.G * s.Og;
  const int64_t tile_rows = (s.R + tiles - 1) / tiles;
  const int64_t channel_tile = slab_block(s.J * M, s.Opad, sizeof(T), kSlabBytes);
  at::parallel_for(0, s.B * s.G * tiles, 1, [&](int64_t begin, int64_t end) {
    RowBasis<T> row(s.P, K);
    std::vector<int32_t> start(s.Cg * s.P);
    std::vector<T> phi(s.Cg * s.P * K);
    const ForwardBlock<T> block = forward_block_for<T>(K);
    const AlignedBuffer<T> acc(std::min(kRowBlock, tile_rows) * s.Opad);
    int64_t basis_of = -1;  // the (sample, group) whose basis `start` and `phi` hold
    for (int64_t item = begin; item < end; ++item) {
      const int64_t tile = item % tiles, group = item / tiles % s.G, b = item / tiles / s.G;
      if (basis_of != item / tiles) {
        for (int64_t c = 0; c < s.Cg; ++c) {
          row.locate(x + (b * s.C + group * s.Cg + c) * s.P, basis, start.data() + c * s.P);
          row.values(nodes, weights, false, phi.data() + c * s.P * K);
        }
        for (int32_t& first : start) first *= static_cast<int32_t>(s.Opad);  // row offsets in the slabs
        basis_of = item / tiles;
      }
      const int64_t first = tile * tile_rows, last = std::min(s.R, first + tile_rows);
      for (int64_t r0 = first; r0 < last; r0 += kRowBlock) {
        const int64_t r1 = std::min(last, r0 + kRowBlock);
        // channels in tiles whose slabs stay in cache while the block's rows read them
        for (int64_t c0 = 0; c0 < s.Cg; c0 += channel_tile)
          block(wt, taps, start.data(), phi.data(), acc.data(), r0, r1, group * s.Cg, c0,
                std::min(s.Cg, c0 + channel_tile), c0 == 0, s, M, K);
        // (rows x Og) of the block into y[b, group * Og + o, r0 + row]
        transpose(acc.data(), s.Opad, y + (b * O + group * s.Og) * s.R + r0, s.R, r1 - r0, s.Og);
      }
    }
  });
}

// Input gradient of one row with K known at compile time: for each input position,
// sum_k dphi_k sum_j <g[r(p, j)], w_{j, start + k}>, the K * 2 partial dot products in registers.
template <typename T, int K>
void input_gradient_row(const T* g, const T* wc, const int32_t* inverse, const int32_t* start, const T* dphi, T* gxv,
                        const ConvShape& s, int64_t M) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  for (int64_t p = 0; p < s.P; ++p) {
    V d[K][2];
    for (int k = 0; k < K; ++k) d[k][0] = d[k][1] = V{};
    for (int64_t j = 0; j < s.J; ++j) {
      const int64_t r = inverse[p * s.J + j];
      if (r < 0) continue;
      const T* gr = g + r * s.Opad;
      const T* w = wc + (j * M + start[p]) * s.Opad;
      int64_t o = 0;
      for (; o + 2 * L <= s.Opad; o += 2 * L) {
        const V g0 = load(gr + o), g1 = load(gr + o + L);
        for (int k = 0; k < K; ++k) {
          d[k][0] += g0 * load(w + k * s.Opad + o);
          d[k][1] += g1 * load(w + k * s.Opad + o + L);
        }
      }
      if (o < s.Opad) {
        const V g0 = load(gr + o);
        for (int k = 0; k < K; ++k) d[k][0] += g0 * load(w + k * s.Opad + o);
      }
    }
    V sum = V{};
    for (int k = 0; k < K; ++k) sum += dphi[p * K + k] * (d[k][0] + d[k][1]);
    store(gxv + p * L, sum);
  }
}

// Weight gradient of a pool of entries (sample, input position) of one channel, K known at compile
// time. The entries are sorted by piece (`first` delimits the runs of each first active weight), and
// all entries of a run share their K active rows, so for each tap the run is summed in registers,
// K x NV vectors, and added to the slab once. Pooling several samples' positions makes the runs long
// even with many segments. Entry i reads the output gradient row g_base[i] + inverse[position[i], j]
// through tap j; its K basis values are phi[i * K ..].
template <typename T, int K, int NV>
void weight_gradient_runs(const T* gt, T* gw, const int32_t* inverse, const T* phi, const int32_t* position,
                          const int64_t* g_base, const int32_t* first, int64_t runs, const ConvShape& s, int64_t M,
                          int64_t o) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  for (int64_t j = 0; j < s.J; ++j) {
    for (int64_t run = 0; run < runs; ++run) {
      const int64_t i0 = first[run], i1 = first[run + 1];
      if (i0 == i1) continue;
      V acc[K][NV];
      for (int k = 0; k < K; ++k)
        for (int v = 0; v < NV; ++v) acc[k][v] = V{};
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = inverse[position[i] * s.J + j];
        if (r < 0) continue;
        const T* g = gt + (g_base[i] + r) * s.Opad + o;
        V gv[NV];
        for (int v = 0; v < NV; ++v) gv[v] = load(g + v * L);
        for (int k = 0; k < K; ++k) {
          const T value = phi[i * K + k];
          for (int v = 0; v < NV; ++v) acc[k][v] += value * gv[v];
        }
      }
      T* rows = gw + (j * M + run) * s.Opad + o;
      for (int k = 0; k < K; ++k)
        for (int v = 0; v < NV; ++v) store(rows + k * s.Opad + v * L, load(rows + k * s.Opad + v * L) + acc[k][v]);
    }
  }
}

template <typename T, int K>
void weight_gradient_pool(const T* gt, T* gw, const int32_t* inverse, const T* phi, const int32_t* position,
                          const int64_t* g_base, const int32_t* first, int64_t runs, const ConvShape& s, int64_t M) {
  constexpr int64_t L = Lanes<T>::size;
  int64_t o = 0;
  for (; o + 2 * L <= s.Opad; o += 2 * L)
    weight_gradient_runs<T, K, 2>(gt, gw, inverse, phi, position, g_base, first, runs, s, M, o);
  if (o < s.Opad) weight_gradient_runs<T, K, 1>(gt, gw, inverse, phi, position, g_base, first, runs, s, M, o);
}

// Input gradient of one row for any K (accumulators in memory).
template <typename T>
void input_gradient_row_any(const T* g, const T* wc, const int32_t* inverse, const int32_t* start, const T* dphi,
                            T* gxv, const ConvShape& s, int64_t M, int64_t K) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  for (int64_t p = 0; p < s.P; ++p) {
    V sum = V{};
    for (int64_t j = 0; j < s.J; ++j) {
      const int64_t r = inverse[p * s.J + j];
      if (r < 0) continue;
      const T* w = wc + (j * M + start[p]) * s.Opad;
      for (int64_t o = 0; o < s.Opad; o += L) {
        V slope = V{};
        for (int64_t k = 0; k < K; ++k) slope += dphi[p * K + k] * load(w + k * s.Opad + o);
        sum += load(g + r * s.Opad + o) * slope;
      }
    }
    store(gxv + p * L, sum);
  }
}

// Weight gradient of a pool for any K (one row of the slab at a time, in memory).
template <typename T>
void weight_gradient_pool_any(const T* gt, T* gw, const int32_t* inverse, const T* phi, const int32_t* position,
                              const int64_t* g_base, const int32_t* start, int64_t entries, const ConvShape& s,
                              int64_t M, int64_t K) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  for (int64_t i = 0; i < entries; ++i)
    for (int64_t j = 0; j < s.J; ++j) {
      const int64_t r = inverse[position[i] * s.J + j];
      if (r < 0) continue;
      const T* g = gt + (g_base[i] + r) * s.Opad;
      T* rows = gw + (j * M + start[i]) * s.Opad;
      for (int64_t o = 0; o < s.Opad; o += L)
        for (int64_t k = 0; k < K; ++k)
          store(rows + k * s.Opad + o, load(rows + k * s.Opad + o) + phi[i * K + k] * load(g + o));
    }
}

template <typename T>
struct BackwardKernels {
  void (*input)(const T*, const T*, const int32_t*, const int32_t*, const T*, T*, const ConvShape&, int64_t);
  void (*weight)(const T*, T*, const int32_t*, const T*, const int32_t*, const int64_t*, const int32_t*, int64_t,
                 const ConvShape&, int64_t);
};

template <typename T, int K>
BackwardKernels<T> backward_kernels_k() {
  return {input_gradient_row<T, K>, weight_gradient_pool<T, K>};
}

template <typename T>
BackwardKernels<T> backward_kernels_for(int64_t K) {
  return dispatch_active_count(K, [](auto k) -> BackwardKernels<T> {
    if constexpr (decltype(k)::value == 0) {
      return {nullptr, nullptr};  // the *_any versions
    } else {
      return backward_kernels_k<T, decltype(k)::value>();
    }
  });
}

// Entries (sample, position) pooled for one sort: enough for long runs, few enough to stay in cache.
constexpr int64_t kPoolEntries = 4096;

template <typename T>
void backward_kernel(const T* gt, const T* x, const T* wt, const int32_t* inverse, T* gx, T* gwt,
                     const ConvShape& s, const Basis& basis, const T* nodes, const T* weights, int64_t chunks) {
  constexpr int64_t L = Lanes<T>::size;
  const int64_t K = basis.K, M = basis.M, runs = M - K + 1;
  const T scale = T(basis.segments);  // d t / d x
  const BackwardKernels<T> kernels = backward_kernels_for<T>(K);
  const int64_t pool = std::max<int64_t>(1, kPoolEntries / std::max<int64_t>(s.P, 1));  // samples per pool
  at::parallel_for(0, s.C * chunks, 1, [&](int64_t begin, int64_t end) {
    RowBasis<T> row(s.P, K);
    const int64_t capacity = std::min(pool, s.B) * s.P;
    std::vector<int32_t> start(capacity), order(capacity), position(capacity), first(runs + 1), cursor(runs);
    std::vector<int64_t> g_base(capacity);
    std::vector<T> phi(capacity * K), phi_sorted(capacity * K), dphi(gx == nullptr ? 0 : s.P * K);
    const AlignedBuffer<T> gxv(gx == nullptr ? 1 : s.P * L);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t c = item / chunks, chunk = item % chunks, group = c / s.Cg;
      const int64_t b_first = chunk * s.B / chunks, b_last = (chunk + 1) * s.B / chunks;
      const T* wc = wt + c * s.J * M * s.Opad;
      T* gw = gwt + (chunk * s.C + c) * s.J * M * s.Opad;
      std::fill(gw, gw + s.J * M * s.Opad, T(0));
      for (int64_t b0 = b_first; b0 < b_last; b0 += pool) {
        const int64_t b1 = std::min(b_last, b0 + pool), entries = (b1 - b0) * s.P;
        for (int64_t b = b0; b < b1; ++b) {
          const T* xr = x + (b * s.C + c) * s.P;
          int32_t* row_start = start.data() + (b - b0) * s.P;
          T* row_phi = phi.data() + (b - b0) * s.P * K;
          row.locate(xr, basis, row_start);
          row.values(nodes, weights, false, row_phi);
          if (gx == nullptr) continue;
          row.values(nodes, weights, true, dphi.data());
          const T* g = gt + (b * s.G + group) * s.R * s.Opad;
          if (kernels.input != nullptr) {
            kernels.input(g, wc, inverse, row_start, dphi.data(), gxv.data(), s, M);
          } else {
            input_gradient_row_any(g, wc, inverse, row_start, dphi.data(), gxv.data(), s, M, K);
          }
          T* gxr = gx + (b * s.C + c) * s.P;
          for (int64_t p = 0; p < s.P; ++p) {
            // clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp's backward
            const bool inside = !basis.clamp || (xr[p] >= T(-1) && xr[p] <= T(1));
            gxr[p] = inside ? horizontal_sum<T>(load(gxv.data() + p * L)) * scale : T(0);
          }
        }
        if (kernels.weight == nullptr) {
          for (int64_t e = 0; e < entries; ++e) {
            position[e] = static_cast<int32_t>(e % s.P);
            g_base[e] = ((b0 + e / s.P) * s.G + group) * s.R;
          }
          weight_gradient_pool_any(gt, gw, inverse, phi.data(), position.data(), g_base.data(), start.data(),
                                   entries, s, M, K);
          continue;
        }
        sort_by_start(start.data(), entries, runs, order.data(), first.data(), cursor.data());
        for (int64_t i = 0; i < entries; ++i) {
          const int64_t e = order[i], sample = e / s.P;
          position[i] = static_cast<int32_t>(e - sample * s.P);
          g_base[i] = ((b0 + sample) * s.G + group) * s.R;
          for (int64_t k = 0; k < K; ++k) phi_sorted[i * K + k] = phi[e * K + k];
        }
        kernels.weight(gt, gw, inverse, phi_sorted.data(), position.data(), g_base.data(), first.data(), runs, s, M);
      }
    }
  });
}

// Where element (tap j, weight m, output o) of input channel c's slabs lives in the layers' weight:
// (O, C / G, M, *k) for convolutions, (C, M, O / G, *k) for transposed ones.
struct WeightLayout {
  int64_t channel, weight, output, tap;  // strides
  bool transposed;
  int64_t base(const ConvShape& s, int64_t c) const {
    return transposed ? c * channel : (c / s.Cg) * s.Og * output + (c % s.Cg) * channel;
  }
};

WeightLayout weight_layout(const ConvShape& s, int64_t M, bool transposed) {
  if (transposed) return {M * s.Og * s.J, s.Og * s.J, s.J, 1, true};
  return {M * s.J, s.J, s.Cg * M * s.J, 1, false};
}

// The slabs the kernels read, wt[c][j][m][o] (C, J, M, Opad), from the layers' weight; the
// columns past each group's outputs are zero.
template <typename T>
void read_weight(const T* weight, T* wt, const ConvShape& s, int64_t M, const WeightLayout& layout) {
  at::parallel_for(0, s.C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const T* src = weight + layout.base(s, c);
      T* slabs = wt + c * s.J * M * s.Opad;
      for (int64_t j = 0; j < s.J; ++j)
        for (int64_t m = 0; m < M; ++m) {
          T* row = slabs + (j * M + m) * s.Opad;
          const T* column = src + m * layout.weight + j * layout.tap;
          for (int64_t o = 0; o < s.Og; ++o) row[o] = column[o * layout.output];
          std::fill(row + s.Og, row + s.Opad, T(0));
        }
    }
  });
}

// The inverse for a weight gradient: grad_weight (the layers' layout) = the sum over the `chunks`
// copies of the slabs' gradient.
template <typename T>
void write_weight_gradient(const T* gwt, T* grad_weight, const ConvShape& s, int64_t M, int64_t chunks,
                           const WeightLayout& layout) {
  const int64_t slabs_size = s.C * s.J * M * s.Opad;
  at::parallel_for(0, s.C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      T* dst = grad_weight + layout.base(s, c);
      for (int64_t j = 0; j < s.J; ++j)
        for (int64_t m = 0; m < M; ++m) {
          const T* row = gwt + (c * s.J + j) * M * s.Opad + m * s.Opad;
          T* column = dst + m * layout.weight + j * layout.tap;
          for (int64_t o = 0; o < s.Og; ++o) {
            T sum = row[o];
            for (int64_t chunk = 1; chunk < chunks; ++chunk) sum += row[chunk * slabs_size + o];
            column[o * layout.output] = sum;
          }
        }
    }
  });
}

// The sizes of a call: x (B, C, P), the layers' weight, a tap table (rows x J).
ConvShape checked_shape(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& table, int64_t positions,
                        bool transposed, int64_t groups) {
  TORCH_CHECK(x.dim() == 3 && weight.dim() >= 4 && table.dim() == 2, "conv_gather_cpu: x must be (B, C, P), the "
              "weight (O, C / G, M, *k) or (C, M, O / G, *k), and the tap table 2-d");
  TORCH_CHECK(x.is_contiguous() && weight.is_contiguous() && table.is_contiguous(), "conv_gather_cpu: inputs must be "
              "contiguous");
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "conv_gather_cpu: dtype mismatch");
  TORCH_CHECK(table.scalar_type() == at::kInt, "conv_gather_cpu: tap tables must be int32");
  const int64_t C = x.size(1), J = table.size(1);
  TORCH_CHECK(groups >= 1 && C % groups == 0, "conv_gather_cpu: groups must divide the channels");
  int64_t taps = 1;  // the weight's kernel size, counted (not divided out: a dimension may be 0)
  for (int64_t d = 3; d < weight.dim(); ++d) taps *= weight.size(d);
  TORCH_CHECK(taps == J, "conv_gather_cpu: the weight's kernel and the tap table disagree");
  const int64_t Og = transposed ? weight.size(2) : weight.size(0) / groups;
  TORCH_CHECK((transposed ? weight.size(0) : weight.size(1) * groups) == C, "conv_gather_cpu: weight and input "
              "channels disagree");
  const int64_t lanes = 64 / x.element_size(), Opad = (Og + lanes - 1) / lanes * lanes;
  return ConvShape{x.size(0), C, x.size(2), groups, C / groups, Og, Opad, positions, J};
}

int64_t num_weights(const at::Tensor& weight, bool transposed) { return weight.size(transposed ? 1 : 2); }

}  // namespace

// x: (B, C, P); weight: the layers' (O, C / G, M, *k), or (C, M, O / G, *k) with `transposed`;
// taps: (R, J) int32; nodes: (K,) float64 -> y (B, O, R)
at::Tensor conv_gather_forward(at::Tensor x, at::Tensor weight, at::Tensor taps, at::Tensor nodes, int64_t segments,
                               int64_t stride, bool clamp, bool transposed, int64_t groups) {
  const ConvShape s = checked_shape(x, weight, taps, taps.size(0), transposed, groups);
  const int64_t M = num_weights(weight, transposed);
  const Basis basis = make_basis(nodes.size(0), segments, stride, M, clamp);
  auto y = at::empty({s.B, s.G * s.Og, s.R}, x.options());
  if (s.B == 0 || s.R == 0 || s.Og == 0) return y.zero_();
  // enough items for every thread even at batch 1: split the output positions as well
  const int64_t threads = at::get_num_threads();
  const int64_t tiles = std::max<int64_t>(1, std::min<int64_t>(s.R, (2 * threads + s.B * s.G - 1) / (s.B * s.G)));
  auto wt = at::empty({s.C, s.J, M, s.Opad}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv_gather_forward", [&] {
    read_weight<scalar_t>(weight.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), s, M, weight_layout(s, M, transposed));
    const Nodes<scalar_t> local(nodes);
    forward_kernel<scalar_t>(x.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), taps.data_ptr<int32_t>(),
                             y.data_ptr<scalar_t>(), s, basis, local.nodes.data(), local.weights.data(), tiles);
  });
  return y;
}

// grad_y: (B, O, R); inverse: (P, J) int32, the output position that reads input position p through
// tap j, or -1 -> (grad_x (B, C, P), or empty without `need_x`; grad_weight in the layers' layout)
std::vector<at::Tensor> conv_gather_backward(at::Tensor grad_y, at::Tensor x, at::Tensor weight, at::Tensor inverse,
                                             at::Tensor nodes, int64_t segments, int64_t stride, bool clamp,
                                             bool transposed, int64_t groups, bool need_x) {
  TORCH_CHECK(grad_y.dim() == 3 && inverse.dim() == 2 && inverse.size(0) == x.size(2),
              "conv_gather_cpu: bad gradient or inverse tap table");
  const ConvShape s = checked_shape(x, weight, inverse, grad_y.size(2), transposed, groups);
  const int64_t M = num_weights(weight, transposed);
  const Basis basis = make_basis(nodes.size(0), segments, stride, M, clamp);
  grad_y = grad_y.contiguous();
  TORCH_CHECK(grad_y.sizes() == at::IntArrayRef({s.B, s.G * s.Og, s.R}), "conv_gather_cpu: bad gradient shape");
  auto grad_x = need_x ? at::empty_like(x) : at::empty({0}, x.options());
  auto grad_weight = at::empty_like(weight);
  if (s.B == 0 || s.C == 0 || s.Og == 0) {
    if (need_x) grad_x.zero_();
    return {grad_x, grad_weight.zero_()};
  }
  // enough (channel, range of samples) items for every thread; each range its own weight gradient
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(s.B, (2 * threads + s.C - 1) / s.C));
  auto wt = at::empty({s.C, s.J, M, s.Opad}, x.options());
  auto grad_wt = at::empty({chunks, s.C, s.J, M, s.Opad}, x.options());  // zeroed by the threads that sum into it
  // the output gradient as (B, G, R, Opad): one output row's group outputs are one padded vector run
  auto gt = at::empty({s.B, s.G, s.R, s.Opad}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv_gather_backward", [&] {
    const WeightLayout layout = weight_layout(s, M, transposed);
    read_weight<scalar_t>(weight.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), s, M, layout);
    const scalar_t* g = grad_y.data_ptr<scalar_t>();
    scalar_t* dst = gt.data_ptr<scalar_t>();
    at::parallel_for(0, s.B * s.G, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        scalar_t* rows = dst + item * s.R * s.Opad;
        transpose(g + item * s.Og * s.R, s.R, rows, s.Opad, s.Og, s.R);
        for (int64_t r = 0; s.Og < s.Opad && r < s.R; ++r) std::fill(rows + r * s.Opad + s.Og, rows + (r + 1) * s.Opad, 0);
      }
    });
    const Nodes<scalar_t> local(nodes);
    backward_kernel<scalar_t>(dst, x.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), inverse.data_ptr<int32_t>(),
                              need_x ? grad_x.data_ptr<scalar_t>() : nullptr, grad_wt.data_ptr<scalar_t>(), s, basis,
                              local.nodes.data(), local.weights.data(), chunks);
    write_weight_gradient<scalar_t>(grad_wt.data_ptr<scalar_t>(), grad_weight.data_ptr<scalar_t>(), s, M, chunks,
                                    layout);
  });
  return {grad_x, grad_weight};
}
