#ifndef DX_RNG_H
#define DX_RNG_H

/* rng.c — the one source of random numbers (xoshiro256**, seeded by splitmix64): a method seeded
 * with dx_request.seed draws the same numbers on every machine. */
typedef struct {
    unsigned long long s[4];
} dx_rng;
void dx_rng_init(dx_rng *r, unsigned long long seed);
unsigned long long dx_rng_next(dx_rng *r);
double dx_rng_uniform(dx_rng *r);  /* [0, 1) */
double dx_rng_normal(dx_rng *r);   /* N(0, 1) */
#endif
