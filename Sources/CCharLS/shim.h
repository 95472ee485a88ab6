// CharLS (JPEG-LS) for Galen's DICOM reader: one call that reads the header and, when given a
// buffer, decodes into it.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <charls/charls.h>

/// Decodes (or, with out == NULL, only reads the header of) one JPEG-LS image. Samples are 1 byte
/// when bits ≤ 8, else 2 (native order); *planar is 1 when components come one plane after
/// another, 0 when interleaved per pixel. Returns 0, or 1 with a message (message_size bytes).
static inline int galen_jpegls_decode(const void *data, size_t size, void *out, size_t out_size,
                                      int *width, int *height, int *components, int *bits,
                                      int *planar, char *message, size_t message_size) {
    charls_jpegls_decoder *decoder = charls_jpegls_decoder_create();
    if (decoder == NULL) {
        snprintf(message, message_size, "cannot create a CharLS decoder");
        return 1;
    }
    charls_jpegls_errc status = charls_jpegls_decoder_set_source_buffer(decoder, data, size);
    if (status == CHARLS_JPEGLS_ERRC_SUCCESS) status = charls_jpegls_decoder_read_header(decoder);
    charls_frame_info frame;
    charls_interleave_mode mode = CHARLS_INTERLEAVE_MODE_NONE;
    if (status == CHARLS_JPEGLS_ERRC_SUCCESS) status = charls_jpegls_decoder_get_frame_info(decoder, &frame);
    if (status == CHARLS_JPEGLS_ERRC_SUCCESS) status = charls_jpegls_decoder_get_interleave_mode(decoder, &mode);
    if (status == CHARLS_JPEGLS_ERRC_SUCCESS) {
        *width = (int)frame.width;
        *height = (int)frame.height;
        *components = frame.component_count;
        *bits = frame.bits_per_sample;
        *planar = mode == CHARLS_INTERLEAVE_MODE_NONE ? 1 : 0;
        if (out != NULL) {
            size_t needed = 0;
            status = charls_jpegls_decoder_get_destination_size(decoder, 0, &needed);
            if (status == CHARLS_JPEGLS_ERRC_SUCCESS && needed > out_size) {
                snprintf(message, message_size, "decoded image (%zu bytes) is larger than the frame (%zu)", needed, out_size);
                charls_jpegls_decoder_destroy(decoder);
                return 1;
            }
            if (status == CHARLS_JPEGLS_ERRC_SUCCESS)
                status = charls_jpegls_decoder_decode_to_buffer(decoder, out, needed, 0);
        }
    }
    charls_jpegls_decoder_destroy(decoder);
    if (status != CHARLS_JPEGLS_ERRC_SUCCESS) {
        snprintf(message, message_size, "%s", charls_get_error_message(status));
        return 1;
    }
    return 0;
}
