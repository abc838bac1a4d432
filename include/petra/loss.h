/* Losses over a batch of n rows of k outputs. Each returns the mean loss over the batch
 * (regression losses: mean over rows and outputs) and, when grad is not NULL, writes the
 * gradient of that mean with respect to the outputs. */
#ifndef PETRA_LOSS_H
#define PETRA_LOSS_H

typedef enum petra_loss {
  PETRA_LOSS_BCE = 0, /* binary cross-entropy on logits; k == 1, targets 0/1 */
  PETRA_LOSS_CE,      /* softmax cross-entropy on k logits; target = class index */
  PETRA_LOSS_MSE,     /* mean squared error */
  PETRA_LOSS_HUBER,   /* Huber with delta 1 */
} petra_loss;

const char *petra_loss_name(petra_loss l);
int petra_loss_parse(const char *name); /* -1 if unknown */

/* target: n values (class index or 0/1) for BCE/CE, n×k values for MSE/Huber. */
double petra_loss_eval(petra_loss l, int n, int k, const float *out, const float *target,
                       float *grad);
#endif
