// Fused basis evaluation and gather contraction for piecewise layers (Lagrange polynomials on
// each piece, or uniform B-splines: bspline_gather_*) on the CPU: forward and backward.
//
//   y[b, o] = sum_i sum_k phi_k(t[i, b]) * weight[i, start[i, b] + k, o]
//
//   (weight[i, m, o] above is the layers' weight W[o, i, m])
//
// computed from the inputs x[i, b] (transposed, so one input's batch is contiguous) and the
// layers' contiguous (O, I, M) weight W. The pieces and Lagrange values of an input are computed
// where they are used, and only the K active weight rows of each link are read, so the cost is
// B * I * K * O whatever the number of segments and no (B, I, K) temporary is stored. Work is
// split over inputs, each thread taking a contiguous range of them: a thread first transposes the
// weights of a block of consecutive inputs, W[:, i0:i1, :] (one contiguous run per output row),
// into its own contiguous (M x O) slabs (read_slabs, in cache-sized tiles), which then stay in
// cache while the whole batch uses them, and accumulates into its own copy of y (forward). The
// backward sums the block's weight gradients into thread-local (M x O) slabs in the same way and
// writes them transposed into grad_W[:, i0:i1, :] (write_slabs), so every thread writes only its
// own inputs' gradients and no two threads write the same memory.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "piecewise_basis.h"
#include "vector_lanes.h"

namespace {

using namespace high_order_layers;

// y[o] += sum_k phi[k * phi_stride] * w[k * O + o] for o < O, four vector registers of y at a
// time held in registers while the K weight rows are added in.
template <typename T>
inline void accumulate_link(T* __restrict y, const T* __restrict w, const T* phi, int64_t phi_stride, int64_t K,
                            int64_t O) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  int64_t o = 0;
  for (; o + 4 * L <= O; o += 4 * L) {
    V a0 = load(y + o), a1 = load(y + o + L), a2 = load(y + o + 2 * L), a3 = load(y + o + 3 * L);
    for (int64_t k = 0; k < K; ++k) {
      const T v = phi[k * phi_stride];
      const T* wk = w + k * O + o;
      a0 += v * load(wk);
      a1 += v * load(wk + L);
      a2 += v * load(wk + 2 * L);
      a3 += v * load(wk + 3 * L);
    }
    store(y + o, a0);
    store(y + o + L, a1);
    store(y + o + 2 * L, a2);
    store(y + o + 3 * L, a3);
  }
  for (; o + L <= O; o += L) {
    V a = load(y + o);
    for (int64_t k = 0; k < K; ++k) a += phi[k * phi_stride] * load(w + k * O + o);
    store(y + o, a);
  }
  for (; o < O; ++o) {
    T acc = y[o];
    for (int64_t k = 0; k < K; ++k) acc += phi[k * phi_stride] * w[k * O + o];
    y[o] = acc;
  }
}

// For one link: returns sum_o g[o] * w[o] and adds v * g into gw.
template <typename T>
inline T dot_and_accumulate(const T* __restrict g, const T* __restrict w, T* __restrict gw, T v, int64_t O) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  V d0 = V{}, d1 = V{};
  int64_t o = 0;
  for (; o + 2 * L <= O; o += 2 * L) {
    const V g0 = load(g + o), g1 = load(g + o + L);
    d0 += g0 * load(w + o);
    d1 += g1 * load(w + o + L);
    store(gw + o, load(gw + o) + v * g0);
    store(gw + o + L, load(gw + o + L) + v * g1);
  }
  for (; o + L <= O; o += L) {
    const V g0 = load(g + o);
    d0 += g0 * load(w + o);
    store(gw + o, load(gw + o) + v * g0);
  }
  T dot = horizontal_sum<T>(d0 + d1);
  for (; o < O; ++o) {
    dot += g[o] * w[o];
    gw[o] += v * g[o];
  }
  return dot;
}

// Weight gradient of the run of samples order[r0 .. r1) (all on one piece) for the outputs
// [o, o + V * L): K * V accumulators held in registers, added to the K rows of gw once.
template <typename T, int K, int V>
inline void run_tile(const T* grad_out, const int32_t* order, const T* phi_sorted, int64_t r0, int64_t r1, T* gw,
                     int64_t O, int64_t o) {
  using Vec = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  Vec acc[K][V];
  for (int k = 0; k < K; ++k)
    for (int v = 0; v < V; ++v) acc[k][v] = Vec{};
  for (int64_t r = r0; r < r1; ++r) {
    const T* g = grad_out + order[r] * O + o;
    Vec gv[V];
    for (int v = 0; v < V; ++v) gv[v] = load(g + v * L);
    for (int k = 0; k < K; ++k) {
      const T p = phi_sorted[r * K + k];
      for (int v = 0; v < V; ++v) acc[k][v] += p * gv[v];
    }
  }
  for (int k = 0; k < K; ++k)
    for (int v = 0; v < V; ++v) {
      T* row = gw + k * O + o + v * L;
      store(row, load(row) + acc[k][v]);
    }
}

// Backward of one input with K known at compile time, so per-link accumulators live in registers.
// Input gradient: gx[b] = sum_k dphi_k(b) <g_b, w_{start_b + k}>. Weight gradient: the samples on
// one piece share their K weight rows, so each run of them is summed in registers and added to
// the rows once, instead of every sample reading and writing K rows.
template <typename T, int K>
void backward_input(const T* grad_out, const T* slab, T* grad_slab, const int32_t* start, const T* phi,
                    const T* dphi, T* gx, int64_t B, int64_t O, const int32_t* order, const int32_t* first,
                    int64_t runs, T* phi_sorted) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t L = Lanes<T>::size;
  for (int64_t b = 0; gx != nullptr && b < B; ++b) {  // gx == nullptr: no input gradient wanted
    const T* g = grad_out + b * O;
    const T* w = slab + start[b] * O;
    V d[K];
    for (int k = 0; k < K; ++k) d[k] = V{};
    int64_t o = 0;
    for (; o + L <= O; o += L) {
      const V gv = load(g + o);
      for (int k = 0; k < K; ++k) d[k] += gv * load(w + k * O + o);
    }
    // sum_k dphi_k <g, w_k>, with one horizontal sum per sample
    V weighted = V{};
    T sum = T(0);
    for (int k = 0; k < K; ++k) {
      const T slope = dphi[k * B + b];
      weighted += slope * d[k];
      T tail = T(0);
      for (int64_t rest = o; rest < O; ++rest) tail += g[rest] * w[k * O + rest];
      sum += slope * tail;
    }
    gx[b] = sum + horizontal_sum<T>(weighted);
  }
  for (int64_t r = 0; r < B; ++r)
    for (int k = 0; k < K; ++k) phi_sorted[r * K + k] = phi[k * B + order[r]];
  constexpr int kVectors = K <= 6 ? 4 : 2;  // vectors of outputs per tile: K * kVectors accumulators
  for (int64_t s = 0; s < runs; ++s) {
    const int64_t r0 = first[s], r1 = first[s + 1];
    if (r0 == r1) continue;
    T* gw = grad_slab + s * O;
    int64_t o = 0;
    for (; o + kVectors * L <= O; o += kVectors * L)
      run_tile<T, K, kVectors>(grad_out, order, phi_sorted, r0, r1, gw, O, o);
    for (; o + L <= O; o += L) run_tile<T, K, 1>(grad_out, order, phi_sorted, r0, r1, gw, O, o);  // narrow layers
    for (; o < O; ++o) {
      T acc[K] = {};
      for (int64_t r = r0; r < r1; ++r) {
        const T g = grad_out[order[r] * O + o];
        for (int k = 0; k < K; ++k) acc[k] += phi_sorted[r * K + k] * g;
      }
      for (int k = 0; k < K; ++k) gw[k * O + o] += acc[k];
    }
  }
}

// Backward of one input for any K (accumulators in memory).
template <typename T>
void backward_input_any(const T* grad_out, const T* slab, T* grad_slab, const int32_t* start, const T* phi,
                        const T* dphi, T* gx, int64_t B, int64_t O, int64_t K) {
  for (int64_t b = 0; b < B; ++b) {
    const T* g = grad_out + b * O;
    T sum = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const int64_t row = (start[b] + k) * O;
      sum += dot_and_accumulate(g, slab + row, grad_slab + row, phi[k * B + b], O) * dphi[k * B + b];
    }
    if (gx != nullptr) gx[b] = sum;
  }
}

// Bytes of slabs a thread transposes at once: consecutive inputs' weights are one contiguous run
// per output row of W, so a block of them reads (and the backward writes) long runs. The forward
// keeps the block's slabs and its (B, O) accumulator in L2; the backward two buffers (the weights
// and their gradient) of half the size each, beside the (B, O) output gradient.
constexpr int64_t kSlabBytes = 512 * 1024;

template <typename T>
void forward_kernel(const T* x, const T* weight, T* partial, int64_t B, int64_t I, int64_t O, const Basis& basis,
                    const T* nodes, const T* weights) {
  const int64_t K = basis.K, M = basis.M;
  at::parallel_for(0, I, 1, [&](int64_t begin, int64_t end) {
    T* y = partial + at::get_thread_num() * B * O;
    std::vector<T> t(B), phi(K * B), scratch(K * B);
    const int64_t block = std::min(end - begin, slab_block(M, O, sizeof(T), kSlabBytes));
    const AlignedBuffer<T> local_slabs(block * M * O);
    std::vector<int32_t> start(B);
    for (int64_t i0 = begin; i0 < end; i0 += block) {
      const int64_t n = std::min(block, end - i0);
      read_slabs(weight, i0, n, I, M, O, local_slabs.data());
      for (int64_t i = i0; i < i0 + n; ++i) {
        const T* slab = local_slabs.data() + (i - i0) * M * O;
        locate_row(x + i * B, B, basis, start.data(), t.data());
        basis_row(t.data(), B, basis, nodes, weights, false, phi.data(), scratch.data());
        for (int64_t b = 0; b < B; ++b) accumulate_link(y + b * O, slab + start[b] * O, phi.data() + b, B, K, O);
      }
    }
  });
}

constexpr int64_t kMaxUnrolledK = 8;

template <typename T>
using BackwardInput = void (*)(const T*, const T*, T*, const int32_t*, const T*, const T*, T*, int64_t, int64_t,
                               const int32_t*, const int32_t*, int64_t, T*);

template <typename T>
BackwardInput<T> backward_for_k(int64_t K) {
  return dispatch_active_count(K, [](auto k) -> BackwardInput<T> {
    constexpr int specialised = decltype(k)::value;
    return backward_input<T, specialised == 0 ? kMaxUnrolledK : specialised>;  // 0: K > 8 takes backward_input_any
  });
}

template <typename T>
void backward_kernel(const T* grad_out, const T* x, const T* weight, T* grad_x, T* grad_weight, int64_t B, int64_t I,
                     int64_t O, const Basis& basis, const T* nodes, const T* weights) {
  const int64_t K = basis.K, M = basis.M;
  const T scale = T(basis.segments);  // d t / d x
  at::parallel_for(0, I, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> t(B), phi(K * B), dphi(K * B), scratch(K * B);
    const int64_t block = std::min(end - begin, slab_block(M, O, sizeof(T), kSlabBytes / 2));
    const AlignedBuffer<T> local_slabs(block * M * O), local_grads(block * M * O);
    std::vector<int32_t> start(B), order(B), first(M + 2), cursor(M + 1);
    const int64_t runs = M - K + 1;
    for (int64_t i0 = begin; i0 < end; i0 += block) {
      const int64_t n = std::min(block, end - i0);
      read_slabs(weight, i0, n, I, M, O, local_slabs.data());
      std::fill(local_grads.data(), local_grads.data() + n * M * O, T(0));
      for (int64_t i = i0; i < i0 + n; ++i) {
        const T* xi = x + i * B;
        const T* slab = local_slabs.data() + (i - i0) * M * O;
        T* grad_slab = local_grads.data() + (i - i0) * M * O;
        locate_row(xi, B, basis, start.data(), t.data());
        basis_row(t.data(), B, basis, nodes, weights, false, phi.data(), scratch.data());
        if (grad_x != nullptr) basis_row(t.data(), B, basis, nodes, weights, true, dphi.data(), scratch.data());
        T* gx = grad_x == nullptr ? nullptr : grad_x + i * B;
        if (K > kMaxUnrolledK) {
          backward_input_any(grad_out, slab, grad_slab, start.data(), phi.data(), dphi.data(), gx, B, O, K);
        } else {
          sort_by_start(start.data(), B, runs, order.data(), first.data(), cursor.data());
          const auto input = backward_for_k<T>(K);
          input(grad_out, slab, grad_slab, start.data(), phi.data(), dphi.data(), gx, B, O, order.data(),
                first.data(), runs, scratch.data());
        }
        if (gx == nullptr) continue;
        const bool clamp = basis.clamp;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) {
          // clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp's backward
          const bool inside = !clamp || (xi[b] >= T(-1) && xi[b] <= T(1));
          gx[b] = inside ? gx[b] * scale : T(0);
        }
      }
      write_slabs(local_grads.data(), i0, n, I, M, O, grad_weight);
    }
  });
}

Basis checked_basis(const at::Tensor& x, const at::Tensor& weight, int64_t K, int64_t segments,
                    int64_t stride, bool clamp) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 3, "gather_cpu: x must be (I, B) and weight (O, I, M)");
  TORCH_CHECK(x.is_contiguous() && weight.is_contiguous(), "gather_cpu: inputs must be contiguous");
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "gather_cpu: dtype mismatch");
  TORCH_CHECK(weight.size(1) == x.size(0), "gather_cpu: weight has ", weight.size(1), " inputs, x ", x.size(0));
  return make_basis(K, segments, stride, weight.size(2), clamp);
}

}  // namespace

namespace {

at::Tensor run_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor* nodes, const Basis& basis) {
  const int64_t I = x.size(0), B = x.size(1), O = weight.size(0);
  auto partial = at::zeros({at::get_num_threads(), B, O}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_forward", [&] {
    const Nodes<scalar_t> local = nodes == nullptr ? Nodes<scalar_t>() : Nodes<scalar_t>(*nodes);
    forward_kernel<scalar_t>(x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), partial.data_ptr<scalar_t>(), B, I,
                             O, basis, local.nodes.data(), local.weights.data());
  });
  return partial.size(0) == 1 ? partial[0] : partial.sum(0);
}

std::vector<at::Tensor> run_backward(at::Tensor grad_out, const at::Tensor& x, const at::Tensor& weight,
                                     const at::Tensor* nodes, const Basis& basis, bool need_x) {
  grad_out = grad_out.contiguous();
  const int64_t I = x.size(0), B = x.size(1), O = weight.size(0);
  TORCH_CHECK(grad_out.sizes() == at::IntArrayRef({B, O}), "gather_cpu: bad gradient shape");
  auto grad_x = need_x ? at::empty_like(x) : at::empty({0}, x.options());
  auto grad_weight = at::empty(weight.sizes(), weight.options());  // contiguous (O, I, M)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_backward", [&] {
    const Nodes<scalar_t> local = nodes == nullptr ? Nodes<scalar_t>() : Nodes<scalar_t>(*nodes);
    backward_kernel<scalar_t>(grad_out.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(),
                              need_x ? grad_x.data_ptr<scalar_t>() : nullptr, grad_weight.data_ptr<scalar_t>(), B, I,
                              O, basis, local.nodes.data(), local.weights.data());
  });
  return {grad_x, grad_weight};
}

Basis checked_bspline(const at::Tensor& x, const at::Tensor& weight, int64_t segments, bool clamp) {
  Basis basis = checked_basis(x, weight, weight.size(2) - segments + 1, segments, 1, clamp);
  TORCH_CHECK(basis.K >= 2, "bspline_gather_cpu: splines of order >= 2, got ", basis.K);
  basis.bspline = true;
  return basis;
}

}  // namespace

// x: (I, B) inputs, weight: (O, I, M) (contiguous), nodes: (K,) float64 -> y (B, O)
at::Tensor gather_forward(at::Tensor x, at::Tensor weight, at::Tensor nodes, int64_t segments, int64_t stride,
                          bool clamp) {
  return run_forward(x, weight, &nodes, checked_basis(x, weight, nodes.size(0), segments, stride, clamp));
}

// -> (grad_x (I, B), or an empty tensor without `need_x`; grad_weight (O, I, M), contiguous)
std::vector<at::Tensor> gather_backward(at::Tensor grad_out, at::Tensor x, at::Tensor weight, at::Tensor nodes,
                                        int64_t segments, int64_t stride, bool clamp, bool need_x) {
  return run_backward(grad_out, x, weight, &nodes, checked_basis(x, weight, nodes.size(0), segments, stride, clamp), need_x);
}

// The same for uniform B-splines of order M - segments + 1 on `segments` pieces: x (I, B),
// weight (O, I, M) -> y (B, O)
at::Tensor bspline_gather_forward(at::Tensor x, at::Tensor weight, int64_t segments, bool clamp) {
  return run_forward(x, weight, nullptr, checked_bspline(x, weight, segments, clamp));
}

// -> (grad_x (I, B) or empty without `need_x`, grad_weight (O, I, M))
std::vector<at::Tensor> bspline_gather_backward(at::Tensor grad_out, at::Tensor x, at::Tensor weight,
                                                int64_t segments, bool clamp, bool need_x) {
  return run_backward(grad_out, x, weight, nullptr, checked_bspline(x, weight, segments, clamp), need_x);
}
