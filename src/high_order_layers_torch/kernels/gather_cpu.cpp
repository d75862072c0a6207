// Fused gather contraction for piecewise layers on the CPU: forward and backward.
//
//   y[b, o] = sum_i sum_k values[i, b, k] * weight[o, i, start[i, b] + k]
//
// Only the K active weights of each link are read, so the cost is B * I * K * O whatever the
// number of segments. Work is split over inputs i: each thread copies the weight slab of one
// input, weight[:, i, :] (O x M), into a contiguous (M x O) buffer that stays in cache while every
// sample of the batch reads it, and accumulates into its own copy of y (forward) or writes only
// its own inputs' gradients (backward), so no two threads ever write the same memory.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace {

template <typename T>
void load_slab(const T* weight, int64_t i, int64_t I, int64_t M, int64_t O, T* slab) {
  // slab[m * O + o] = weight[o, i, m]
  for (int64_t o = 0; o < O; ++o) {
    const T* src = weight + (o * I + i) * M;
    for (int64_t m = 0; m < M; ++m) slab[m * O + o] = src[m];
  }
}

template <typename T>
void forward_kernel(const int64_t* start, const T* values, const T* weight, T* partial,
                    int64_t B, int64_t I, int64_t K, int64_t M, int64_t O) {
  at::parallel_for(0, I, 1, [&](int64_t begin, int64_t end) {
    T* y = partial + at::get_thread_num() * B * O;
    std::vector<T> slab(M * O);
    for (int64_t i = begin; i < end; ++i) {
      load_slab(weight, i, I, M, O, slab.data());
      const int64_t* s = start + i * B;
      const T* v = values + i * B * K;
      for (int64_t b = 0; b < B; ++b) {
        T* __restrict__ yb = y + b * O;
        const T* __restrict__ w = slab.data() + s[b] * O;
        const T* vb = v + b * K;
        for (int64_t k = 0; k < K; ++k) {
          const T vk = vb[k];
          const T* __restrict__ wk = w + k * O;
#pragma omp simd
          for (int64_t o = 0; o < O; ++o) yb[o] += vk * wk[o];
        }
      }
    }
  });
}

template <typename T>
void backward_kernel(const int64_t* start, const T* values, const T* weight, const T* grad_out,
                     T* grad_values, T* grad_weight, int64_t B, int64_t I, int64_t K, int64_t M, int64_t O) {
  at::parallel_for(0, I, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> slab(M * O);
    std::vector<T> grad_slab(M * O);
    for (int64_t i = begin; i < end; ++i) {
      load_slab(weight, i, I, M, O, slab.data());
      std::fill(grad_slab.begin(), grad_slab.end(), T(0));
      const int64_t* s = start + i * B;
      const T* v = values + i * B * K;
      T* gv = grad_values + i * B * K;
      for (int64_t b = 0; b < B; ++b) {
        const T* __restrict__ g = grad_out + b * O;
        const T* __restrict__ w = slab.data() + s[b] * O;
        T* __restrict__ gw = grad_slab.data() + s[b] * O;
        for (int64_t k = 0; k < K; ++k) {
          const T vk = v[b * K + k];
          const T* __restrict__ wk = w + k * O;
          T* __restrict__ gwk = gw + k * O;
          T dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t o = 0; o < O; ++o) {
            dot += g[o] * wk[o];
            gwk[o] += vk * g[o];
          }
          gv[b * K + k] = dot;
        }
      }
      for (int64_t o = 0; o < O; ++o) {
        T* dst = grad_weight + (o * I + i) * M;
        for (int64_t m = 0; m < M; ++m) dst[m] = grad_slab[m * O + o];
      }
    }
  });
}

void check(const at::Tensor& start, const at::Tensor& values, const at::Tensor& weight) {
  TORCH_CHECK(start.dim() == 2 && values.dim() == 3 && weight.dim() == 3, "gather_cpu: bad ranks");
  TORCH_CHECK(start.is_contiguous() && values.is_contiguous() && weight.is_contiguous(),
              "gather_cpu: inputs must be contiguous");
  TORCH_CHECK(start.scalar_type() == at::kLong, "gather_cpu: start must be int64");
  TORCH_CHECK(values.scalar_type() == weight.scalar_type(), "gather_cpu: dtype mismatch");
}

}  // namespace

// start: (I, B) int64, values: (I, B, K), weight: (O, I, M) -> (B, O)
at::Tensor gather_forward(at::Tensor start, at::Tensor values, at::Tensor weight) {
  check(start, values, weight);
  const int64_t I = values.size(0), B = values.size(1), K = values.size(2);
  const int64_t O = weight.size(0), M = weight.size(2);
  auto partial = at::zeros({at::get_num_threads(), B, O}, values.options());
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "gather_forward", [&] {
    forward_kernel<scalar_t>(start.data_ptr<int64_t>(), values.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(),
                             partial.data_ptr<scalar_t>(), B, I, K, M, O);
  });
  return partial.sum(0);
}

// -> (grad_values (I, B, K), grad_weight (O, I, M))
std::vector<at::Tensor> gather_backward(at::Tensor grad_out, at::Tensor start, at::Tensor values,
                                           at::Tensor weight) {
  check(start, values, weight);
  grad_out = grad_out.contiguous();
  const int64_t I = values.size(0), B = values.size(1), K = values.size(2);
  const int64_t O = weight.size(0), M = weight.size(2);
  auto grad_values = at::empty_like(values);
  auto grad_weight = at::empty_like(weight);
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "gather_backward", [&] {
    backward_kernel<scalar_t>(start.data_ptr<int64_t>(), values.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(),
                              grad_out.data_ptr<scalar_t>(), grad_values.data_ptr<scalar_t>(),
                              grad_weight.data_ptr<scalar_t>(), B, I, K, M, O);
  });
  return {grad_values, grad_weight};
}
