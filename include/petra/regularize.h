/* Loss regularizers that make a model compressible (PETRA's loss regularization gene):
 *   L1:           λ₁ · Σ |w|                          (drives single weights to zero)
 *   group lasso:  λ_g · Σ_units ‖w_unit‖₂             (drives whole units to zero, so
 *                                                      structured pruning removes little)
 * over the weight matrices (dense0.w, gru0.wih, gru0.whh, head.w; not biases, norms or
 * embedding tables), a unit being an output row (for the GRU: a row of each gate). The
 * subgradient of |w| at 0 is taken as 0, and of ‖v‖ at v = 0 as 0. */
#ifndef PETRA_REGULARIZE_H
#define PETRA_REGULARIZE_H
#include "petra/model.h"

/* Returns the penalty of the model's current weights and, when grad is not NULL, adds its
 * gradient to grad (the model's flat parameter layout). */
double petra_regularize(const petra_model *m, float l1, float group_lasso, float *grad);
#endif
