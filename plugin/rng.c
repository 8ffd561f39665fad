/* Random numbers for the methods that draw them: xoshiro256** (Blackman & Vigna), seeded
 * through splitmix64, so that a seed gives the same stream on every machine and libc. */
#include <math.h>
#include "rng.h"

static unsigned long long splitmix64(unsigned long long *x)
{
    unsigned long long z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void dx_rng_init(dx_rng *r, unsigned long long seed)
{
    for (int k = 0; k < 4; ++k) r->s[k] = splitmix64(&seed);
}

static unsigned long long rotl(unsigned long long x, int k) { return (x << k) | (x >> (64 - k)); }

unsigned long long dx_rng_next(dx_rng *r)
{
    unsigned long long *s = r->s;
    unsigned long long result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double dx_rng_uniform(dx_rng *r) { return (dx_rng_next(r) >> 11) * 0x1.0p-53; }

/* Box-Muller; one draw per call (the second value is dropped to keep the stream stateless). */
double dx_rng_normal(dx_rng *r)
{
    double u = 1.0 - dx_rng_uniform(r), v = dx_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}
