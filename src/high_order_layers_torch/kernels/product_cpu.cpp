// Fused product neurons on the CPU: forward and backward.
//
//   y[b, o] = -1 + prod_i (1 + f_oi(x[i, b])) - c * sum_i f_oi(x[i, b]),   c = 1 - alpha,
//
// with the link values f_oi = sum_k phi_k(t) * weight[i, start + k, o] of a piecewise Lagrange
// basis, or f_oi = weight[i, 0, o] * x for the linear basis (`linear`), computed from the inputs
// x[i, b] (transposed, so one input's batch is contiguous) and the layers' contiguous (O, I, M)
// weight W (weight[i, m, o] above is W[o, i, m]). The kernels compute with one contiguous
// (M x O) slab per input, transposed from W (read_slab, in cache-sized tiles): the forward, whose
// blocks of samples each read every slab, first transposes the whole of W into an (I, M, O)
// scratch tensor, in parallel over inputs; the backward transposes a few of its own inputs' slabs
// at a time into thread-local memory, sums their weight gradients there and writes them
// transposed into the contiguous (O, I, M) gradient (write_slab).
// Link values are formed where they are used and never stored: the (B, O, I) tensor of all of
// them is what makes the pure-torch path slow and large.
//
// Forward: work is split over blocks of samples, each owning its rows of the outputs. Within a
// block the weight slabs of a few inputs at a time stay in cache while every sample of the block
// uses them, and for a tile of outputs the running product and sum stay in registers across those
// inputs. Besides y it returns, per (b, o), the product `rest` of the factors 1 + f that are not
// zero and the number `zeros` of those that are, which is all the backward needs. (A block is
// folded first taking every factor; only where some product comes out 0 or NaN, so may hold a
// zero factor, is it folded again counting them.)
//
//   d y / d f_i = prod_{j != i} (1 + f_j) - c,   prod_{j != i} (1 + f_j) = rest / (1 + f_i)   if zeros = 0,
//                                                                        = rest if 1 + f_i = 0, zeros = 1,
//                                                                        = 0 otherwise,
//
// the rule of torch's own prod backward. So nothing is ever divided by zero, and no prefix and
// suffix products are needed (their (B, O, I) storage would cost more than the links themselves).
// Zero factors are counted exactly, and a non-zero factor 1 + f (f a float) is at least half an
// ulp of 1 in magnitude, so the division loses accuracy only where the product underflows.
//
// Backward: work is split over inputs as in the gather kernel, so every thread writes only its
// own inputs' gradients. For each input the samples are sorted by piece; each sample's link value
// and its derivative are recomputed from its K active weight rows, giving d y / d f; the input
// gradient is its dot product with the derivative, and the weight gradient of a run of samples on
// one piece is summed in registers and added to the K rows once.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "piecewise_basis.h"
#include "vector_lanes.h"

namespace {

using namespace high_order_layers;

struct Layer {
  Basis basis;
  bool linear;  // f = w * x instead of the piecewise basis
  double c;     // 1 - alpha, the weight of the linear part removed
};

// Start offsets and basis values phi[k * P + p] of P inputs; with `dphi`, also their derivatives
// with respect to the local coordinate. The linear basis is the input itself (after the clamp).
template <typename T>
void basis_values(const T* x, int64_t P, const Layer& layer, const T* nodes, const T* weights, int32_t* start, T* t,
                  T* phi, T* dphi, T* scratch) {
  if (layer.linear) {
    const T low = layer.basis.clamp ? T(-1) : -std::numeric_limits<T>::infinity();
    const T high = layer.basis.clamp ? T(1) : std::numeric_limits<T>::infinity();
    for (int64_t p = 0; p < P; ++p) {
      const T value = x[p];
      phi[p] = value < low ? low : (value > high ? high : value);  // keeps NaN, as torch.clamp
      start[p] = 0;
      if (dphi != nullptr) dphi[p] = T(1);
    }
    return;
  }
  const int64_t K = layer.basis.K;
  locate_row(x, P, layer.basis, start, t);
  lagrange_row(t, P, K, nodes, weights, false, phi, scratch);
  if (dphi != nullptr) lagrange_row(t, P, K, nodes, weights, true, dphi, scratch);
}

// Folds `count` inputs into the running product, the sum and (with `Count`) the zero count of
// one sample's links, for outputs [o, o + V * L), held in registers throughout. With `Count` the
// product skips the zero factors; without, it takes every factor (cheaper, and the same whenever
// no factor is zero). Input j's slab is weight + j * slab_size, its first active row
// start[j * nb], its basis values phi[(j * K + k) * nb].
template <typename T, int V, bool Count>
inline void fold_tile(T* rest, T* zeros, T* sum, const T* weight, int64_t slab_size, const int32_t* start,
                      const T* phi, int64_t count, int64_t nb, int64_t K, int64_t O, int64_t o) {
  using Vec = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  const Vec zero = Vec{}, one = zero + T(1);
  Vec r[V], z[V], s[V];
  for (int v = 0; v < V; ++v) {
    r[v] = load(rest + o + v * L);
    s[v] = load(sum + o + v * L);
    if constexpr (Count) z[v] = load(zeros + o + v * L);
  }
  for (int64_t j = 0; j < count; ++j) {
    const T* w = weight + j * slab_size + start[j * nb] * O + o;
    const T* p = phi + j * K * nb;
    Vec l[V];
    for (int v = 0; v < V; ++v) l[v] = zero;
    for (int64_t k = 0; k < K; ++k) {
      const T value = p[k * nb];
      for (int v = 0; v < V; ++v) l[v] += value * load(w + k * O + v * L);
    }
    for (int v = 0; v < V; ++v) {
      const Vec f = one + l[v];
      if constexpr (Count) {
        const auto is_zero = f == zero;
        r[v] *= is_zero ? one : f;
        z[v] += is_zero ? one : zero;
      } else {
        r[v] *= f;
      }
      s[v] += l[v];
    }
  }
  for (int v = 0; v < V; ++v) {
    store(rest + o + v * L, r[v]);
    store(sum + o + v * L, s[v]);
    if constexpr (Count) store(zeros + o + v * L, z[v]);
  }
}

template <typename T, bool Count>
void fold_sample(T* rest, T* zeros, T* sum, const T* weight, int64_t slab_size, const int32_t* start, const T* phi,
                 int64_t count, int64_t nb, int64_t K, int64_t O) {
  constexpr int64_t L = Lanes<T>::size;
  int64_t o = 0;
  for (; o + 4 * L <= O; o += 4 * L)
    fold_tile<T, 4, Count>(rest, zeros, sum, weight, slab_size, start, phi, count, nb, K, O, o);
  for (; o + L <= O; o += L)
    fold_tile<T, 1, Count>(rest, zeros, sum, weight, slab_size, start, phi, count, nb, K, O, o);
  for (; o < O; ++o) {
    T r = rest[o], z = Count ? zeros[o] : T(0), s = sum[o];
    for (int64_t j = 0; j < count; ++j) {
      const T* w = weight + j * slab_size + start[j * nb] * O + o;
      const T* p = phi + j * K * nb;
      T l = T(0);
      for (int64_t k = 0; k < K; ++k) l += p[k * nb] * w[k * O];
      const T f = T(1) + l;
      r *= Count && f == T(0) ? T(1) : f;
      z += f == T(0) ? T(1) : T(0);
      s += l;
    }
    rest[o] = r;
    sum[o] = s;
    if (Count) zeros[o] = z;
  }
}

constexpr int64_t kSampleBlock = 32;           // samples per forward work item
constexpr int64_t kForwardBytes = 24 * 1024;   // weight rows a block reads at a time: they stay in L1
constexpr int64_t kBackwardBytes = 256 * 1024; // per-sample numerators a backward pass reads: they stay in L2
constexpr int64_t kSlabBytes = 512 * 1024;     // input slabs and their gradients a backward thread holds

// One block of nb samples starting at b0: rest, zeros and the sum of the links (in place of y).
template <typename T, bool Count>
void forward_block(const T* x, const T* weight, T* r, T* z, T* s, int64_t b0, int64_t nb, int64_t B, int64_t I,
                   int64_t O, int64_t group, const Layer& layer, const T* nodes, const T* weights, int32_t* start,
                   T* t, T* phi, T* scratch) {
  const int64_t K = layer.basis.K, M = layer.basis.M;
  std::fill(r, r + nb * O, T(1));
  std::fill(z, z + nb * O, T(0));
  std::fill(s, s + nb * O, T(0));
  for (int64_t i0 = 0; i0 < I; i0 += group) {
    const int64_t count = std::min(group, I - i0);
    for (int64_t j = 0; j < count; ++j)
      basis_values(x + (i0 + j) * B + b0, nb, layer, nodes, weights, start + j * nb, t, phi + j * K * nb,
                   static_cast<T*>(nullptr), scratch);
    for (int64_t b = 0; b < nb; ++b)
      fold_sample<T, Count>(r + b * O, z + b * O, s + b * O, weight + i0 * M * O, M * O, start + b, phi + b, count,
                            nb, K, O);
  }
}

template <typename T>
void forward_kernel(const T* x, const T* weight, T* y, T* rest, T* zeros, int64_t B, int64_t I, int64_t O,
                    const Layer& layer, const T* nodes, const T* weights) {
  const int64_t K = layer.basis.K, M = layer.basis.M;
  const int64_t touched = std::min(M, kSampleBlock * K);  // weight rows of one input a block can read
  const int64_t group = std::clamp<int64_t>(kForwardBytes / (touched * O * int64_t(sizeof(T))), 1, 64);
  const int64_t blocks = (B + kSampleBlock - 1) / kSampleBlock;
  const T c = T(layer.c);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> start(group * kSampleBlock);
    std::vector<T> t(kSampleBlock), phi(group * K * kSampleBlock), scratch(K * kSampleBlock);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t b0 = block * kSampleBlock, nb = std::min(kSampleBlock, B - b0);
      T* r = rest + b0 * O;
      T* z = zeros + b0 * O;
      T* s = y + b0 * O;  // the sum of the links, until y replaces it
      forward_block<T, false>(x, weight, r, z, s, b0, nb, B, I, O, group, layer, nodes, weights, start.data(),
                              t.data(), phi.data(), scratch.data());
      // A product that is 0 (or NaN) may hold a zero factor: redo the block counting them.
      if (std::any_of(r, r + nb * O, [](T value) { return !(value != T(0)) || value != value; }))
        forward_block<T, true>(x, weight, r, z, s, b0, nb, B, I, O, group, layer, nodes, weights, start.data(),
                               t.data(), phi.data(), scratch.data());
      for (int64_t e = 0; e < nb * O; ++e) {
        // a zero factor makes the product 0, or NaN with an infinite or NaN factor, as torch's prod
        const T product = z[e] == T(0) ? r[e] : r[e] * T(0);
        s[e] = c == T(0) ? product - T(1) : product - T(1) - c * s[e];
      }
    }
  });
}

// d y / d f for one sample, from the precomputed per-(b, o) numerators (see the top): `num0`
// is g * rest where no factor is zero (else 0 * that), `num1` the same where exactly one is, and
// `gc` is g * c. Without zeros and with alpha = 1 (`General` false) only num0 is read.
template <typename T>
struct Numerators {
  const T *num0, *num1, *gc;
};

// Backward of the samples order[r0..r1) of one input, which all start at the weight rows w,
// for outputs [o, o + V * L): link values and their derivatives from the K rows, the weight
// gradient summed in registers over the run and added to gw, the input gradient added to gx[r].
template <typename T, int K, int V, bool General>
inline void backward_tile(const Numerators<T>& num, const T* w, T* gw, const int32_t* order, int64_t r0, int64_t r1,
                          const T* phi, const T* dphi, T* gx, int64_t O, int64_t o) {
  using Vec = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  const Vec zero = Vec{};
  Vec acc[K][V];
  for (int k = 0; k < K; ++k)
    for (int v = 0; v < V; ++v) acc[k][v] = zero;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t row = order[r] * O + o;
    const T* p = phi + r * K;
    const T* dp = dphi + r * K;
    Vec dot = zero;
    for (int v = 0; v < V; ++v) {
      Vec l = zero, slope = zero;
      for (int k = 0; k < K; ++k) {
        const Vec wk = load(w + k * O + o + v * L);
        l += p[k] * wk;
        slope += dp[k] * wk;
      }
      const Vec f = l + T(1);
      Vec d = load(num.num0 + row + v * L) / f;
      if constexpr (General) {
        d = f == zero ? load(num.num1 + row + v * L) : d;
        d -= load(num.gc + row + v * L);
      }
      dot += d * slope;
      for (int k = 0; k < K; ++k) acc[k][v] += p[k] * d;
    }
    gx[r] += horizontal_sum<T>(dot);
  }
  for (int k = 0; k < K; ++k)
    for (int v = 0; v < V; ++v) {
      T* out = gw + k * O + o + v * L;
      store(out, load(out) + acc[k][v]);
    }
}

// The same for any K (runtime), one output at a time.
template <typename T>
inline void backward_scalar(const Numerators<T>& num, bool general, const T* w, T* gw, const int32_t* order,
                            int64_t r0, int64_t r1, const T* phi, const T* dphi, T* gx, int64_t K, int64_t O,
                            int64_t o) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t row = order[r] * O + o;
    const T* p = phi + r * K;
    const T* dp = dphi + r * K;
    T l = T(0), slope = T(0);
    for (int64_t k = 0; k < K; ++k) {
      l += p[k] * w[k * O + o];
      slope += dp[k] * w[k * O + o];
    }
    const T f = l + T(1);
    T d = num.num0[row] / f;
    if (general) d = (f == T(0) ? num.num1[row] : d) - num.gc[row];
    gx[r] += d * slope;
    for (int64_t k = 0; k < K; ++k) gw[k * O + o] += p[k] * d;
  }
}

template <typename T, int K, bool General>
void backward_runs(const Numerators<T>& num, const T* slab, T* grad_slab, const int32_t* order, const int32_t* first,
                   int64_t runs, const T* phi, const T* dphi, T* gx, int64_t O) {
  constexpr int64_t L = Lanes<T>::size;
  constexpr int V = K <= 2 ? 4 : (K <= 5 ? 2 : 1);  // vectors of outputs per tile: K * V accumulators
  for (int64_t s = 0; s < runs; ++s) {
    const int64_t r0 = first[s], r1 = first[s + 1];
    if (r0 == r1) continue;
    const T* w = slab + s * O;
    T* gw = grad_slab + s * O;
    int64_t o = 0;
    for (; o + V * L <= O; o += V * L) backward_tile<T, K, V, General>(num, w, gw, order, r0, r1, phi, dphi, gx, O, o);
    for (; o + L <= O; o += L) backward_tile<T, K, 1, General>(num, w, gw, order, r0, r1, phi, dphi, gx, O, o);
    for (; o < O; ++o) backward_scalar<T>(num, General, w, gw, order, r0, r1, phi, dphi, gx, K, O, o);
  }
}

// Any K: one output at a time, the accumulators in memory.
template <typename T>
void backward_runs_any(const Numerators<T>& num, bool general, const T* slab, T* grad_slab, const int32_t* order,
                       const int32_t* first, int64_t runs, const T* phi, const T* dphi, T* gx, int64_t K, int64_t O) {
  for (int64_t s = 0; s < runs; ++s) {
    const int64_t r0 = first[s], r1 = first[s + 1];
    for (int64_t o = 0; o < O && r0 < r1; ++o)
      backward_scalar<T>(num, general, slab + s * O, grad_slab + s * O, order, r0, r1, phi, dphi, gx, K, O, o);
  }
}

constexpr int64_t kMaxUnrolledK = 8;

template <typename T>
using BackwardRuns = void (*)(const Numerators<T>&, const T*, T*, const int32_t*, const int32_t*, int64_t, const T*,
                              const T*, T*, int64_t);

template <typename T, bool General>
BackwardRuns<T> backward_for_k(int64_t K) {
  return dispatch_active_count(K, [](auto k) -> BackwardRuns<T> {
    constexpr int specialised = decltype(k)::value;  // 0: K > 8, which takes the general runs instead
    return backward_runs<T, specialised == 0 ? kMaxUnrolledK : specialised, General>;
  });
}

template <typename T>
void backward_kernel(const Numerators<T>& num, bool general, const T* x, const T* weight, T* grad_x, T* grad_weight,
                     int64_t B, int64_t I, int64_t O, const Layer& layer, const T* nodes, const T* weights) {
  const int64_t K = layer.basis.K, M = layer.basis.M;
  const T scale = T(layer.basis.segments);  // d t / d x (1 for the linear basis)
  const int64_t runs = M - K + 1;
  // samples per pass: their numerators stay in cache while a thread's inputs use them
  const int64_t arrays = general ? 3 : 1;
  const int64_t budget = std::max<int64_t>(kBackwardBytes / (arrays * O * int64_t(sizeof(T))), 64);
  const int64_t chunk = std::min(budget, std::max<int64_t>(B, 1));
  const BackwardRuns<T> unrolled = K > kMaxUnrolledK ? nullptr
                                   : general          ? backward_for_k<T, true>(K)
                                                      : backward_for_k<T, false>(K);
  // inputs whose slabs and gradients a thread holds at a time (they stay in cache)
  const int64_t span = std::max<int64_t>(kSlabBytes / std::max<int64_t>(2 * M * O * int64_t(sizeof(T)), 1), 1);
  at::parallel_for(0, I, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> t(chunk), phi(K * chunk), dphi(K * chunk), scratch(K * chunk), phi_sorted(K * chunk),
        dphi_sorted(K * chunk), gx(chunk);
    std::vector<int32_t> start(chunk), order(chunk), first(runs + 1), cursor(runs);
    const int64_t held = std::min(span, end - begin);
    const AlignedBuffer<T> slabs(held * M * O), grad_slabs(held * M * O);
    for (int64_t i0 = begin; i0 < end; i0 += span) {  // a span of inputs' slabs, transposed in and out
      const int64_t i1 = std::min(i0 + span, end);
      for (int64_t i = i0; i < i1; ++i) read_slab(weight, i, I, M, O, slabs.data() + (i - i0) * M * O);
      std::fill(grad_slabs.data(), grad_slabs.data() + (i1 - i0) * M * O, T(0));
      for (int64_t b0 = 0; b0 < B; b0 += chunk) {
        const int64_t nb = std::min(chunk, B - b0);
        const Numerators<T> part{num.num0 + b0 * O, general ? num.num1 + b0 * O : nullptr,
                                 general ? num.gc + b0 * O : nullptr};
        for (int64_t i = i0; i < i1; ++i) {
          const T* xi = x + i * B + b0;
          basis_values(xi, nb, layer, nodes, weights, start.data(), t.data(), phi.data(), dphi.data(),
                       scratch.data());
          sort_by_start(start.data(), nb, runs, order.data(), first.data(), cursor.data());
          for (int64_t r = 0; r < nb; ++r)
            for (int64_t k = 0; k < K; ++k) {
              phi_sorted[r * K + k] = phi[k * nb + order[r]];
              dphi_sorted[r * K + k] = dphi[k * nb + order[r]];
            }
          std::fill(gx.begin(), gx.begin() + nb, T(0));
          const T* slab = slabs.data() + (i - i0) * M * O;
          T* grad_slab = grad_slabs.data() + (i - i0) * M * O;
          if (unrolled != nullptr)
            unrolled(part, slab, grad_slab, order.data(), first.data(), runs, phi_sorted.data(), dphi_sorted.data(),
                     gx.data(), O);
          else
            backward_runs_any(part, general, slab, grad_slab, order.data(), first.data(), runs, phi_sorted.data(),
                              dphi_sorted.data(), gx.data(), K, O);
          T* out = grad_x + i * B + b0;
          const bool clamp = layer.basis.clamp;
          for (int64_t r = 0; r < nb; ++r) {
            const int64_t b = order[r];
            // clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp's backward
            const bool inside = !clamp || (xi[b] >= T(-1) && xi[b] <= T(1));
            out[b] = inside ? gx[r] * scale : T(0);
          }
        }
      }
      for (int64_t i = i0; i < i1; ++i) write_slab(grad_slabs.data() + (i - i0) * M * O, i, I, M, O, grad_weight);
    }
  });
}

// The whole (O, I, M) weight as (I, M, O) slabs (see the top), in parallel over inputs.
template <typename T>
void weight_to_slabs(const T* weight, T* slabs, int64_t I, int64_t M, int64_t O) {
  at::parallel_for(0, I, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) read_slab(weight, i, I, M, O, slabs + i * M * O);
  });
}

Layer checked_layer(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& nodes, int64_t segments,
                    int64_t stride, bool linear, double alpha, bool clamp) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 3, "product_cpu: x must be (I, B) and weight (O, I, M)");
  TORCH_CHECK(x.is_contiguous() && weight.is_contiguous(), "product_cpu: inputs must be contiguous");
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "product_cpu: dtype mismatch");
  TORCH_CHECK(weight.size(1) == x.size(0), "product_cpu: weight has ", weight.size(1), " inputs, x ", x.size(0));
  TORCH_CHECK(!linear || (nodes.size(0) == 1 && segments == 1), "product_cpu: the linear basis has one weight");
  return Layer{make_basis(nodes.size(0), segments, stride, weight.size(2), clamp), linear, 1.0 - alpha};
}

}  // namespace

// x: (I, B) inputs, weight: (O, I, M) (contiguous), nodes: (K,) float64
// -> (y (B, O), rest (B, O), zeros (B, O)), the last two for the backward
std::vector<at::Tensor> product_forward(at::Tensor x, at::Tensor weight, at::Tensor nodes, int64_t segments,
                                        int64_t stride, bool linear, double alpha, bool clamp) {
  const Layer layer = checked_layer(x, weight, nodes, segments, stride, linear, alpha, clamp);
  const int64_t I = x.size(0), B = x.size(1), O = weight.size(0), M = weight.size(2);
  auto slabs = at::empty({I, M, O}, x.options());
  auto y = at::empty({B, O}, x.options());
  auto rest = at::empty({B, O}, x.options());
  auto zeros = at::empty({B, O}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "product_forward", [&] {
    const Nodes<scalar_t> local(nodes);
    weight_to_slabs<scalar_t>(weight.data_ptr<scalar_t>(), slabs.data_ptr<scalar_t>(), I, M, O);
    forward_kernel<scalar_t>(x.data_ptr<scalar_t>(), slabs.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                             rest.data_ptr<scalar_t>(), zeros.data_ptr<scalar_t>(), B, I, O, layer,
                             local.nodes.data(), local.weights.data());
  });
  return {y, rest, zeros};
}

// -> (grad_x (I, B), grad_weight (O, I, M), contiguous)
std::vector<at::Tensor> product_backward(at::Tensor grad_y, at::Tensor x, at::Tensor weight, at::Tensor rest,
                                         at::Tensor zeros, at::Tensor nodes, int64_t segments, int64_t stride,
                                         bool linear, double alpha, bool clamp) {
  const Layer layer = checked_layer(x, weight, nodes, segments, stride, linear, alpha, clamp);
  const int64_t I = x.size(0), B = x.size(1), O = weight.size(0);
  TORCH_CHECK(grad_y.sizes() == at::IntArrayRef({B, O}) && rest.sizes() == grad_y.sizes() &&
                  zeros.sizes() == grad_y.sizes(),
              "product_cpu: bad gradient shape");
  // the numerators of d y / d f (see the top); 0 * g * rest keeps NaN and infinity as the twin does
  const auto numerator = grad_y * rest;
  const auto masked = numerator * 0;
  const auto num0 = at::where(zeros == 0, numerator, masked).contiguous();
  const bool general = layer.c != 0.0 || zeros.gt(0).any().item<bool>();
  at::Tensor num1, gc;
  if (general) {
    num1 = at::where(zeros == 1, numerator, masked).contiguous();
    gc = (grad_y * layer.c).contiguous();
  }
  auto grad_x = at::empty_like(x);
  auto grad_weight = at::empty(weight.sizes(), weight.options());  // contiguous (O, I, M)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "product_backward", [&] {
    const Nodes<scalar_t> local(nodes);
    const Numerators<scalar_t> num{num0.data_ptr<scalar_t>(), general ? num1.data_ptr<scalar_t>() : nullptr,
                                   general ? gc.data_ptr<scalar_t>() : nullptr};
    backward_kernel<scalar_t>(num, general, x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(),
                              grad_x.data_ptr<scalar_t>(), grad_weight.data_ptr<scalar_t>(), B, I, O, layer,
                              local.nodes.data(), local.weights.data());
  });
  return {grad_x, grad_weight};
}
