/* The two clocks of the daemon. Every interval, age, rate and stall check uses the monotonic
 * clock (a wall-clock step must not fire timers or fake a stall); the wall clock only gives
 * timestamps written into messages. */
#ifndef PETRA_CLOCK_H
#define PETRA_CLOCK_H
#include <stdint.h>
/* Monotonic milliseconds, offset by 1 so that 0 still means "never" in *_ms fields. */
uint64_t clk_mono_ms(void);
/* Monotonic microseconds. */
double clk_mono_us(void);
/* Wall-clock milliseconds since the epoch. */
uint64_t clk_wall_ms(void);
#endif
