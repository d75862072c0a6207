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
// geometry. The caller also hands the weight transposed to (C, J, M, Opad): the links of one
// (channel, tap) pair are a contiguous (M x Opad) slab, with the group's outputs padded with zero
// columns up to a whole number of vector registers, so no loop has a remainder.
//
// Forward: work is split over (sample, group, block of output positions); the basis of every input
// element of the group is computed once per item, and each output row's accumulators stay in
// vector registers over all the links that feed it.
// Backward: split over (input channel, range of samples), so the input gradient of a channel and
// the weight gradient of its slabs belong to one thread (ranges of samples write separate copies
// of the weight gradient, summed afterwards, when there are fewer channels than threads).
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
// acc[(r - r0) * Opad + o ..] = sum over the links feeding r. RB rows at a time, so RB * NV
// independent chains of multiply-adds hide their latency; each row adds its links in the same
// order whatever RB is, so the blocking changes no value.
template <typename T, int NV, int RB>
void forward_rows(const T* wt, const int32_t* taps, const int32_t* start, const T* phi, T* acc, int64_t r0,
                  int64_t r1, int64_t c0, const ConvShape& s, int64_t M, int64_t K, int64_t o) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  int64_t r = r0;
  for (; r + RB <= r1; r += RB) {
    V a[RB][NV];
    for (int q = 0; q < RB; ++q)
      for (int v = 0; v < NV; ++v) a[q][v] = V{};
    for (int64_t j = 0; j < s.J; ++j) {
      int64_t p[RB];
      for (int q = 0; q < RB; ++q) p[q] = taps[(r + q) * s.J + j];
      const T* slabs = wt + ((c0 * s.J + j) * M) * s.Opad + o;  // channel c: + c * J * M * Opad
      for (int64_t c = 0; c < s.Cg; ++c) {
        for (int q = 0; q < RB; ++q) {
          if (p[q] < 0) continue;
          const int64_t e = c * s.P + p[q];
          const T* w = slabs + (c * s.J * M + start[e]) * s.Opad;
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
    if (r < r1) forward_rows<T, NV, 1>(wt, taps, start, phi, acc + (r - r0) * s.Opad, r, r1, c0, s, M, K, o);
  }
}

template <typename T, int NV>
void forward_columns(const T* wt, const int32_t* taps, const int32_t* start, const T* phi, T* acc, int64_t r0,
                     int64_t r1, int64_t c0, const ConvShape& s, int64_t M, int64_t K, int64_t o) {
  constexpr int RB = kAccumulators / NV > 1 ? kAccumulators / NV : 1;
  forward_rows<T, NV, RB>(wt, taps, start, phi, acc, r0, r1, c0, s, M, K, o);
}

template <typename T>
void forward_block(const T* wt, const int32_t* taps, const int32_t* start, const T* phi, T* acc, int64_t r0,
                   int64_t r1, int64_t c0, const ConvShape& s, int64_t M, int64_t K) {
  constexpr int64_t L = Lanes<T>::size;
  int64_t o = 0;
  for (; o + 4 * L <= s.Opad; o += 4 * L) forward_columns<T, 4>(wt, taps, start, phi, acc, r0, r1, c0, s, M, K, o);
  switch ((s.Opad - o) / L) {
    case 3: forward_columns<T, 3>(wt, taps, start, phi, acc, r0, r1, c0, s, M, K, o); break;
    case 2: forward_columns<T, 2>(wt, taps, start, phi, acc, r0, r1, c0, s, M, K, o); break;
    case 1: forward_columns<T, 1>(wt, taps, start, phi, acc, r0, r1, c0, s, M, K, o); break;
    default: break;
  }
}

// Output rows per block: a block's accumulators (rows x Opad) stay in L1/L2 until written out.
constexpr int64_t kRowBlock = 64;

template <typename T>
void forward_kernel(const T* x, const T* wt, const int32_t* taps, T* y, const ConvShape& s, const Basis& basis,
                    const T* nodes, const T* weights, int64_t tiles) {
  const int64_t K = basis.K, M = basis.M, O = s.G * s.Og;
  const int64_t tile_rows = (s.R + tiles - 1) / tiles;
  at::parallel_for(0, s.B * s.G * tiles, 1, [&](int64_t begin, int64_t end) {
    RowBasis<T> row(s.P, K);
    std::vector<int32_t> start(s.Cg * s.P);
    std::vector<T> phi(s.Cg * s.P * K);
    const AlignedBuffer<T> acc(std::min(kRowBlock, tile_rows) * s.Opad);
    int64_t basis_of = -1;  // the (sample, group) whose basis `start` and `phi` hold
    for (int64_t item = begin; item < end; ++item) {
      const int64_t tile = item % tiles, group = item / tiles % s.G, b = item / tiles / s.G;
      if (basis_of != item / tiles) {
        for (int64_t c = 0; c < s.Cg; ++c) {
          row.locate(x + (b * s.C + group * s.Cg + c) * s.P, basis, start.data() + c * s.P);
          row.values(nodes, weights, false, phi.data() + c * s.P * K);
        }
        basis_of = item / tiles;
      }
      const int64_t first = tile * tile_rows, last = std::min(s.R, first + tile_rows);
      for (int64_t r0 = first; r0 < last; r0 += kRowBlock) {
        const int64_t r1 = std::min(last, r0 + kRowBlock);
        forward_block(wt, taps, start.data(), phi.data(), acc.data(), r0, r1, group * s.Cg, s, M, K);
        // (rows x Og) of the block into y[b, group * Og + o, r0 + row]
        transpose(acc.data(), s.Opad, y + (b * O + group * s.Og) * s.R + r0, s.R, r1 - r0, s.Og);
      }
    }
  });
}

// Gradients of one input row (sample b, channel c), for any K: every link adds phi_k * g[r] into
// the K active rows of its slab in memory, and g[r] * sum_k dphi_k w_k into the vector accumulator
// of its input position (summed to a scalar at the end).
template <typename T>
void backward_row_any(const T* g, const T* wc, T* gw, const int32_t* inverse, const int32_t* start, const T* phi,
                      const T* dphi, T* gxv, const ConvShape& s, int64_t M, int64_t K) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  for (int64_t p = 0; p < s.P; ++p) {
    V sum = V{};
    for (int64_t j = 0; j < s.J; ++j) {
      const int64_t r = inverse[p * s.J + j];
      if (r < 0) continue;
      const T* gr = g + r * s.Opad;
      const int64_t offset = (j * M + start[p]) * s.Opad;
      for (int64_t o = 0; o < s.Opad; o += L) {
        const V gv = load(gr + o);
        V slope = V{};
        for (int64_t k = 0; k < K; ++k) {
          if (gxv != nullptr) slope += dphi[p * K + k] * load(wc + offset + k * s.Opad + o);
          store(gw + offset + k * s.Opad + o, load(gw + offset + k * s.Opad + o) + phi[p * K + k] * gv);
        }
        sum += gv * slope;
      }
    }
    if (gxv != nullptr) store(gxv + p * L, sum);
  }
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

// Weight gradient of one row with K known at compile time: the positions on one piece share
// their K active rows, so for each tap the run of them (`order`, from sort_by_start) is summed in
// registers, K x NV vectors, and added to the slab once.
template <typename T, int K, int NV>
void weight_gradient_columns(const T* g, T* gw, const int32_t* inverse, const T* phi, const int32_t* order,
                             const int32_t* first, int64_t runs, const ConvShape& s, int64_t M, int64_t o) {
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
        const int64_t p = order[i], r = inverse[p * s.J + j];
        if (r < 0) continue;
        V gv[NV];
        for (int v = 0; v < NV; ++v) gv[v] = load(g + r * s.Opad + o + v * L);
        for (int k = 0; k < K; ++k) {
          const T value = phi[p * K + k];
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
void backward_row(const T* g, const T* wc, T* gw, const int32_t* inverse, const int32_t* start, const T* phi,
                  const T* dphi, T* gxv, const int32_t* order, const int32_t* first, int64_t runs, const ConvShape& s,
                  int64_t M) {
  constexpr int64_t L = Lanes<T>::size;
  if (gxv != nullptr) input_gradient_row<T, K>(g, wc, inverse, start, dphi, gxv, s, M);
  int64_t o = 0;
  for (; o + 2 * L <= s.Opad; o += 2 * L)
    weight_gradient_columns<T, K, 2>(g, gw, inverse, phi, order, first, runs, s, M, o);
  if (o < s.Opad) weight_gradient_columns<T, K, 1>(g, gw, inverse, phi, order, first, runs, s, M, o);
}

template <typename T>
using BackwardRow = void (*)(const T*, const T*, T*, const int32_t*, const int32_t*, const T*, const T*, T*,
                             const int32_t*, const int32_t*, int64_t, const ConvShape&, int64_t);

template <typename T>
BackwardRow<T> backward_row_for(int64_t K) {
  switch (K) {
    case 1: return backward_row<T, 1>;
    case 2: return backward_row<T, 2>;
    case 3: return backward_row<T, 3>;
    case 4: return backward_row<T, 4>;
    case 5: return backward_row<T, 5>;
    case 6: return backward_row<T, 6>;
    case 7: return backward_row<T, 7>;
    case 8: return backward_row<T, 8>;
    default: return nullptr;  // backward_row_any
  }
}

template <typename T>
void backward_kernel(const T* gt, const T* x, const T* wt, const int32_t* inverse, T* gx, T* gwt,
                     const ConvShape& s, const Basis& basis, const T* nodes, const T* weights, int64_t chunks) {
  constexpr int64_t L = Lanes<T>::size;
  const int64_t K = basis.K, M = basis.M, runs = M - K + 1;
  const T scale = T(basis.segments);  // d t / d x
  const BackwardRow<T> row_kernel = backward_row_for<T>(K);
  at::parallel_for(0, s.C * chunks, 1, [&](int64_t begin, int64_t end) {
    RowBasis<T> row(s.P, K);
    std::vector<int32_t> start(s.P), order(s.P), first(runs + 1), cursor(runs);
    std::vector<T> phi(s.P * K), dphi(gx == nullptr ? 0 : s.P * K);
    const AlignedBuffer<T> gxv(gx == nullptr ? 1 : s.P * L);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t c = item / chunks, chunk = item % chunks, group = c / s.Cg;
      const int64_t b0 = chunk * s.B / chunks, b1 = (chunk + 1) * s.B / chunks;
      const T* wc = wt + c * s.J * M * s.Opad;
      T* gw = gwt + (chunk * s.C + c) * s.J * M * s.Opad;
      for (int64_t b = b0; b < b1; ++b) {
        const T* xr = x + (b * s.C + c) * s.P;
        const T* g = gt + (b * s.G + group) * s.R * s.Opad;
        T* sums = gx == nullptr ? nullptr : gxv.data();
        row.locate(xr, basis, start.data());
        row.values(nodes, weights, false, phi.data());
        if (gx != nullptr) row.values(nodes, weights, true, dphi.data());
        if (row_kernel == nullptr) {
          backward_row_any(g, wc, gw, inverse, start.data(), phi.data(), dphi.data(), sums, s, M, K);
        } else {
          sort_by_start(start.data(), s.P, runs, order.data(), first.data(), cursor.data());
          row_kernel(g, wc, gw, inverse, start.data(), phi.data(), dphi.data(), sums, order.data(), first.data(), runs,
                     s, M);
        }
        if (gx == nullptr) continue;
        T* gxr = gx + (b * s.C + c) * s.P;
        for (int64_t p = 0; p < s.P; ++p) {
          // clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp's backward
          const bool inside = !basis.clamp || (xr[p] >= T(-1) && xr[p] <= T(1));
          gxr[p] = inside ? horizontal_sum<T>(load(gxv.data() + p * L)) * scale : T(0);
        }
      }
    }
  });
}

ConvShape checked_shape(const at::Tensor& x, const at::Tensor& wt, const at::Tensor& table, int64_t positions,
                        int64_t groups, int64_t group_outputs) {
  TORCH_CHECK(x.dim() == 3 && wt.dim() == 4 && table.dim() == 2, "conv_gather_cpu: x must be (B, C, P), the weight "
              "(C, J, M, Opad) and the tap table 2-d");
  TORCH_CHECK(x.is_contiguous() && wt.is_contiguous() && table.is_contiguous(), "conv_gather_cpu: inputs must be "
              "contiguous");
  TORCH_CHECK(x.scalar_type() == wt.scalar_type(), "conv_gather_cpu: dtype mismatch");
  TORCH_CHECK(table.scalar_type() == at::kInt, "conv_gather_cpu: tap tables must be int32");
  const int64_t C = x.size(1), J = table.size(1), Opad = wt.size(3);
  TORCH_CHECK(wt.size(0) == C && wt.size(1) == J, "conv_gather_cpu: weight and input/taps disagree");
  TORCH_CHECK(groups >= 1 && C % groups == 0, "conv_gather_cpu: groups must divide the channels");
  TORCH_CHECK(Opad % (64 / x.element_size()) == 0, "conv_gather_cpu: padded outputs must fill whole 64-byte vectors");
  TORCH_CHECK(group_outputs >= 0 && group_outputs <= Opad, "conv_gather_cpu: bad output count");
  return ConvShape{x.size(0), C, x.size(2), groups, C / groups, group_outputs, Opad, positions, J};
}

}  // namespace

// x: (B, C, P); wt: (C, J, M, Opad) (group g's outputs in the columns of its channels' slabs);
// taps: (R, J) int32; nodes: (K,) float64 -> y (B, groups * group_outputs, R)
at::Tensor conv_gather_forward(at::Tensor x, at::Tensor wt, at::Tensor taps, at::Tensor nodes, int64_t segments,
                               int64_t stride, bool clamp, int64_t groups, int64_t group_outputs) {
  const ConvShape s = checked_shape(x, wt, taps, taps.size(0), groups, group_outputs);
  const Basis basis = make_basis(nodes.size(0), segments, stride, wt.size(2), clamp);
  auto y = at::empty({s.B, s.G * s.Og, s.R}, x.options());
  if (s.B == 0 || s.R == 0 || s.Og == 0) return y.zero_();
  // enough items for every thread even at batch 1: split the output positions as well
  const int64_t threads = at::get_num_threads();
  const int64_t tiles = std::max<int64_t>(1, std::min<int64_t>(s.R, (2 * threads + s.B * s.G - 1) / (s.B * s.G)));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv_gather_forward", [&] {
    const Nodes<scalar_t> local(nodes);
    forward_kernel<scalar_t>(x.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), taps.data_ptr<int32_t>(),
                             y.data_ptr<scalar_t>(), s, basis, local.nodes.data(), local.weights.data(), tiles);
  });
  return y;
}

// grad_y: (B, groups * group_outputs, R); inverse: (P, J) int32, the output position that reads
// input position p through tap j, or -1 -> (grad_x (B, C, P), or empty without `need_x`;
// grad_wt (C, J, M, Opad), zero in the padding columns)
std::vector<at::Tensor> conv_gather_backward(at::Tensor grad_y, at::Tensor x, at::Tensor wt, at::Tensor inverse,
                                             at::Tensor nodes, int64_t segments, int64_t stride, bool clamp,
                                             int64_t groups, int64_t group_outputs, bool need_x) {
  TORCH_CHECK(grad_y.dim() == 3 && inverse.dim() == 2 && inverse.size(0) == x.size(2),
              "conv_gather_cpu: bad gradient or inverse tap table");
  const ConvShape s = checked_shape(x, wt, inverse, grad_y.size(2), groups, group_outputs);
  const Basis basis = make_basis(nodes.size(0), segments, stride, wt.size(2), clamp);
  grad_y = grad_y.contiguous();
  TORCH_CHECK(grad_y.sizes() == at::IntArrayRef({s.B, s.G * s.Og, s.R}), "conv_gather_cpu: bad gradient shape");
  auto grad_x = need_x ? at::empty_like(x) : at::empty({0}, x.options());
  // enough (channel, range of samples) items for every thread; each range its own weight gradient
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(s.B, (2 * threads + s.C - 1) / s.C));
  auto grad_wt = at::zeros({chunks, s.C, s.J, wt.size(2), s.Opad}, x.options());
  if (s.B == 0 || s.C == 0) {
    if (need_x) grad_x.zero_();
    return {grad_x, grad_wt.sum(0)};
  }
  // the output gradient as (B, G, R, Opad): one output row's group outputs are one padded vector run
  auto gt = at::zeros({s.B, s.G, s.R, s.Opad}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv_gather_backward", [&] {
    const scalar_t* g = grad_y.data_ptr<scalar_t>();
    scalar_t* dst = gt.data_ptr<scalar_t>();
    at::parallel_for(0, s.B * s.G, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item)
        transpose(g + item * s.Og * s.R, s.R, dst + item * s.R * s.Opad, s.Opad, s.Og, s.R);
    });
    const Nodes<scalar_t> local(nodes);
    backward_kernel<scalar_t>(dst, x.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), inverse.data_ptr<int32_t>(),
                              need_x ? grad_x.data_ptr<scalar_t>() : nullptr, grad_wt.data_ptr<scalar_t>(), s, basis,
                              local.nodes.data(), local.weights.data(), chunks);
  });
  return {grad_x, chunks == 1 ? grad_wt[0] : grad_wt.sum(0)};
}
