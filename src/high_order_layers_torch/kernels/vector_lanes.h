// Portable vector registers for the CPU kernels (GCC/Clang vector extensions), shared by the
// gather and product kernels.
#pragma once

#include <cstdint>

namespace high_order_layers {

// One vector register's worth of T (GCC/Clang vector extension; lowered to whatever vector
// instructions the build targets, so the same code serves AVX-512, AVX2 and plain SSE).
template <typename T>
struct Lanes {
  typedef T vec __attribute__((vector_size(64), aligned(sizeof(T)), may_alias));
  static constexpr int64_t size = 64 / sizeof(T);
};

template <typename T>
inline typename Lanes<T>::vec load(const T* p) {
  return *reinterpret_cast<const typename Lanes<T>::vec*>(p);
}

template <typename T>
inline void store(T* p, typename Lanes<T>::vec v) {
  *reinterpret_cast<typename Lanes<T>::vec*>(p) = v;
}

template <typename T>
inline T horizontal_sum(typename Lanes<T>::vec v) {
  // halve the vector until four lanes remain (compiles to extracts and vector adds)
  typedef T half __attribute__((vector_size(32)));
  typedef T quarter __attribute__((vector_size(16)));
  half low, high;
  __builtin_memcpy(&low, &v, sizeof(half));
  __builtin_memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof(half), sizeof(half));
  const half h = low + high;
  quarter a, b;
  __builtin_memcpy(&a, &h, sizeof(quarter));
  __builtin_memcpy(&b, reinterpret_cast<const char*>(&h) + sizeof(quarter), sizeof(quarter));
  const quarter q = a + b;
  T sum = T(0);
  for (int64_t j = 0; j < int64_t(sizeof(quarter) / sizeof(T)); ++j) sum += q[j];
  return sum;
}

}  // namespace high_order_layers
