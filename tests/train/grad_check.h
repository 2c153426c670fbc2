// Helpers for the trainer's gradient-check tests: central finite differences in double, a derived
// tolerance, and reporting of every mismatching element before the test fails.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace bitdial::test {

// count values from N(0, sigma^2), seeded: the same on every run.
inline std::vector<double> normal_doubles(int64_t count, double sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, sigma);
  std::vector<double> v(static_cast<size_t>(count));
  for (double& x : v) x = dist(rng);
  return v;
}

// d f / d x[i] by central differences (f(x + h) - f(x - h)) / 2h for every element of x, which f reads.
// Truncation error is O(h^2 f''') ~ 1e-12 and rounding O(eps |f| / h) ~ 1e-10 |f| at h = 1e-6.
inline std::vector<double> numeric_gradient(std::vector<double>& x, const std::function<double()>& f, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = f();
    x[i] = keep - h;
    const double down = f();
    x[i] = keep;
    g[i] = (up - down) / (2.0 * h);
  }
  return g;
}

// Every element within rtol * max|numeric| + atol of the numeric gradient; each mismatch is reported
// (the first 20 by index), and an all-zero numeric gradient fails too: a check that compares nothing
// proves nothing.
inline void expect_gradient_near(const std::vector<double>& analytic, const std::vector<double>& numeric,
                                 const std::string& what, double rtol = 1e-6, double atol = 1e-9) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  double scale = 0.0;
  for (double v : numeric) scale = std::max(scale, std::fabs(v));
  EXPECT_GT(scale, 1e-6) << what << ": the numeric gradient is all zero";
  const double tol = rtol * scale + atol;
  int bad = 0;
  for (size_t i = 0; i < numeric.size(); ++i)
    if (!(std::fabs(analytic[i] - numeric[i]) <= tol) && ++bad <= 20)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric[i] << ", tolerance "
                    << tol;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << numeric.size() << " elements differ";
}

// sum_i c[i] y[i]: a scalar whose gradient with respect to y is c, so one backward pass with dy = c
// checks every output's contribution at once.
inline double weighted_sum(const std::vector<double>& c, const std::vector<double>& y) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += c[i] * y[i];
  return s;
}

}  // namespace bitdial::test
