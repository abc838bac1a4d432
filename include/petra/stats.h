/* Order statistics for the latency figures the tools and the daemon report. */
#ifndef PETRA_STATS_H
#define PETRA_STATS_H
#include <stddef.h>

/* Sorts v[n] ascending. */
void petra_sort_doubles(double *v, size_t n);
/* The q-quantile of sorted v[n]: v[min(n − 1, floor(q·n))]; 0 when n is 0. */
double petra_quantile_sorted(const double *v, size_t n, double q);
#endif
