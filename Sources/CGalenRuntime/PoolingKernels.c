// 2×2, stride-2 max pooling of one (H, W) plane on AVX2, eight windows per step: the LeNet and
// U-Net case. Swift's SIMD masks compile to long chains of lane inserts here, and the scalar loop
// mispredicts about every other compare on real activations; these took max pooling (forward and
// backward) from 18% of a LeNet training step's cycles to 8%. Pooling.swift calls them only after
// galen_cpu_has_avx2().
//
// Rules, as the general loop in Pooling.swift: the window is scanned (0,0), (0,1), (1,0), (1,1);
// a later element replaces the maximum when it is larger or NaN; the index is the flat position
// ih·W + iw within the plane.

#include "CGalenRuntime.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GALEN_AVX2 __attribute__((target("avx2,fma")))

int galen_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// The even and odd elements of 16 consecutive floats, each in order.
static inline GALEN_AVX2 void deinterleave(const float *p, __m256 *even, __m256 *odd) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    // shuffle_ps works within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; the permute restores order.
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// Stores the two halves of 16 floats whose even elements are `even` and odd ones `odd`.
static inline GALEN_AVX2 void interleave(float *p, __m256 even, __m256 odd) {
    __m256 low = _mm256_unpacklo_ps(even, odd), high = _mm256_unpackhi_ps(even, odd);
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(low, high, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(low, high, 0x31));
}

static inline GALEN_AVX2 void take_larger(__m256 *best, __m256i *best_index, __m256 candidate, __m256i position) {
    __m256 wins = _mm256_or_ps(_mm256_cmp_ps(candidate, *best, _CMP_GT_OQ), _mm256_cmp_ps(candidate, candidate, _CMP_UNORD_Q));
    *best = _mm256_blendv_ps(*best, candidate, wins);
    *best_index = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(*best_index), _mm256_castsi256_ps(position), wins));
}

static inline GALEN_AVX2 void take_larger4(__m128 *best, __m128i *best_index, __m128 candidate, __m128i position) {
    __m128 wins = _mm_or_ps(_mm_cmp_ps(candidate, *best, _CMP_GT_OQ), _mm_cmp_ps(candidate, candidate, _CMP_UNORD_Q));
    *best = _mm_blendv_ps(*best, candidate, wins);
    *best_index = _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(*best_index), _mm_castsi128_ps(position), wins));
}

GALEN_AVX2 void galen_max_pool_2x2_avx2(
    const float *input, long width, float *output, int32_t *index, long out_height, long out_width) {
    const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i one = _mm256_set1_epi32(1), down = _mm256_set1_epi32((int32_t)width);
    for (long oh = 0; oh < out_height; oh++) {
        const long top = 2 * oh * width;
        const float *row0 = input + top, *row1 = row0 + width;
        float *out = output + oh * out_width;
        int32_t *at = index + oh * out_width;
        long ow = 0;
        // Rows of 8+ windows end with a vector overlapping the one before: same values again.
        while (out_width >= 8 && ow < out_width) {
            if (ow > out_width - 8) ow = out_width - 8;
            const long w = 2 * ow;
            __m256 upper_even, upper_odd, lower_even, lower_odd;
            deinterleave(row0 + w, &upper_even, &upper_odd);
            deinterleave(row1 + w, &lower_even, &lower_odd);
            __m256i first = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(top + w)), lanes);
            __m256 best = upper_even;
            __m256i best_index = first;
            take_larger(&best, &best_index, upper_odd, _mm256_add_epi32(first, one));
            take_larger(&best, &best_index, lower_even, _mm256_add_epi32(first, down));
            take_larger(&best, &best_index, lower_odd, _mm256_add_epi32(_mm256_add_epi32(first, down), one));
            _mm256_storeu_ps(out + ow, best);
            _mm256_storeu_si256((__m256i *)(at + ow), best_index);
            ow += 8;
        }
        // Rows of 4–7 windows (LeNet's second pooling has 5): four at a time, the last overlapping.
        while (out_width >= 4 && ow < out_width) {
            if (ow > out_width - 4) ow = out_width - 4;
            const long w = 2 * ow;
            __m128 u0 = _mm_loadu_ps(row0 + w), u1 = _mm_loadu_ps(row0 + w + 4);
            __m128 l0 = _mm_loadu_ps(row1 + w), l1 = _mm_loadu_ps(row1 + w + 4);
            __m128i first = _mm_add_epi32(_mm_set1_epi32((int32_t)(top + w)), _mm256_castsi256_si128(lanes));
            __m128 best = _mm_shuffle_ps(u0, u1, 0x88);
            __m128i best_index = first;
            take_larger4(&best, &best_index, _mm_shuffle_ps(u0, u1, 0xDD), _mm_add_epi32(first, _mm256_castsi256_si128(one)));
            __m128i below = _mm_add_epi32(first, _mm256_castsi256_si128(down));
            take_larger4(&best, &best_index, _mm_shuffle_ps(l0, l1, 0x88), below);
            take_larger4(&best, &best_index, _mm_shuffle_ps(l0, l1, 0xDD), _mm_add_epi32(below, _mm256_castsi256_si128(one)));
            _mm_storeu_ps(out + ow, best);
            _mm_storeu_si128((__m128i *)(at + ow), best_index);
            ow += 4;
        }
        for (; ow < out_width; ow++) {
            const long w = 2 * ow;
            const float candidates[3] = {row0[w + 1], row1[w], row1[w + 1]};
            const long positions[3] = {top + w + 1, top + width + w, top + width + w + 1};
            float best = row0[w];
            long position = top + w;
            for (int k = 0; k < 3; k++) {
                const float v = candidates[k];
                if (v > best || v != v) { best = v; position = positions[k]; }
            }
            out[ow] = best;
            at[ow] = (int32_t)position;
        }
    }
}

GALEN_AVX2 void galen_max_pool_2x2_backward_avx2(
    const float *dy, const int32_t *index, float *dx, long height, long width, long out_height, long out_width) {
    const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i one = _mm256_set1_epi32(1), down = _mm256_set1_epi32((int32_t)width);
    for (long oh = 0; oh < out_height; oh++) {
        const long top = 2 * oh * width;
        float *row0 = dx + top, *row1 = row0 + width;
        const float *g = dy + oh * out_width;
        const int32_t *at = index + oh * out_width;
        long ow = 0;
        while (out_width >= 8 && ow < out_width) {
            if (ow > out_width - 8) ow = out_width - 8;
            const long w = 2 * ow;
            __m256 gradient = _mm256_loadu_ps(g + ow);
            __m256i where = _mm256_loadu_si256((const __m256i *)(at + ow));
            __m256i first = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(top + w)), lanes);
            __m256i second = _mm256_add_epi32(first, one);
            __m256i third = _mm256_add_epi32(first, down);
            __m256i fourth = _mm256_add_epi32(third, one);
#define PICK(position) _mm256_and_ps(gradient, _mm256_castsi256_ps(_mm256_cmpeq_epi32(where, position)))
            interleave(row0 + w, PICK(first), PICK(second));
            interleave(row1 + w, PICK(third), PICK(fourth));
#undef PICK
            ow += 8;
        }
        while (out_width >= 4 && ow < out_width) {
            if (ow > out_width - 4) ow = out_width - 4;
            const long w = 2 * ow;
            __m128 gradient = _mm_loadu_ps(g + ow);
            __m128i where = _mm_loadu_si128((const __m128i *)(at + ow));
            __m128i first = _mm_add_epi32(_mm_set1_epi32((int32_t)(top + w)), _mm256_castsi256_si128(lanes));
            __m128i second = _mm_add_epi32(first, _mm256_castsi256_si128(one));
            __m128i third = _mm_add_epi32(first, _mm256_castsi256_si128(down));
            __m128i fourth = _mm_add_epi32(third, _mm256_castsi256_si128(one));
#define PICK(position) _mm_and_ps(gradient, _mm_castsi128_ps(_mm_cmpeq_epi32(where, position)))
            __m128 e = PICK(first), o = PICK(second);
            _mm_storeu_ps(row0 + w, _mm_unpacklo_ps(e, o));
            _mm_storeu_ps(row0 + w + 4, _mm_unpackhi_ps(e, o));
            e = PICK(third), o = PICK(fourth);
            _mm_storeu_ps(row1 + w, _mm_unpacklo_ps(e, o));
            _mm_storeu_ps(row1 + w + 4, _mm_unpackhi_ps(e, o));
#undef PICK
            ow += 4;
        }
        for (; ow < out_width; ow++) {
            const long w = 2 * ow, chosen = at[ow];
            row0[w] = chosen == top + w ? g[ow] : 0;
            row0[w + 1] = chosen == top + w + 1 ? g[ow] : 0;
            row1[w] = chosen == top + width + w ? g[ow] : 0;
            row1[w + 1] = chosen == top + width + w + 1 ? g[ow] : 0;
        }
        // An odd width leaves the last column outside every window.
        for (long column = 2 * out_width; column < width; column++) row0[column] = row1[column] = 0;
    }
    // An odd height leaves the last row outside every window.
    for (long i = 2 * out_height * width; i < height * width; i++) dx[i] = 0;
}

#else
int galen_cpu_has_avx2(void) { return 0; }
void galen_max_pool_2x2_avx2(const float *input, long width, float *output, int32_t *index, long out_height,
                             long out_width) {}
void galen_max_pool_2x2_backward_avx2(const float *dy, const int32_t *index, float *dx, long height, long width,
                                      long out_height, long out_width) {}
#endif
