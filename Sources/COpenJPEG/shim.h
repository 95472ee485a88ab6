// OpenJPEG (JPEG 2000) for Galen's DICOM reader: decoding from a memory buffer, with the
// library's messages captured instead of printed.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <openjpeg.h>

typedef struct {
    const unsigned char *data;
    OPJ_SIZE_T size;
    OPJ_SIZE_T offset;
    char *message;
    size_t message_size;
} galen_j2k_source;

static OPJ_SIZE_T galen_j2k_read(void *out, OPJ_SIZE_T count, void *user) {
    galen_j2k_source *source = (galen_j2k_source *)user;
    if (source->offset >= source->size) return (OPJ_SIZE_T)-1;
    OPJ_SIZE_T n = source->size - source->offset < count ? source->size - source->offset : count;
    memcpy(out, source->data + source->offset, n);
    source->offset += n;
    return n;
}

static OPJ_OFF_T galen_j2k_skip(OPJ_OFF_T count, void *user) {
    galen_j2k_source *source = (galen_j2k_source *)user;
    if (count < 0) {
        if ((OPJ_SIZE_T)(-count) > source->offset) count = -(OPJ_OFF_T)source->offset;
    } else if ((OPJ_SIZE_T)count > source->size - source->offset) {
        count = (OPJ_OFF_T)(source->size - source->offset);
    }
    source->offset += count;
    return count;
}

static OPJ_BOOL galen_j2k_seek(OPJ_OFF_T position, void *user) {
    galen_j2k_source *source = (galen_j2k_source *)user;
    if (position < 0 || (OPJ_SIZE_T)position > source->size) return OPJ_FALSE;
    source->offset = (OPJ_SIZE_T)position;
    return OPJ_TRUE;
}

static void galen_j2k_quiet(const char *text, void *user) { (void)text; (void)user; }

static void galen_j2k_error(const char *text, void *user) {
    galen_j2k_source *source = (galen_j2k_source *)user;
    if (source->message[0] == 0) {
        snprintf(source->message, source->message_size, "%s", text);
        size_t n = strlen(source->message);
        if (n > 0 && source->message[n - 1] == '\n') source->message[n - 1] = 0;
    }
}

/// Decodes (or, with out == NULL, only reads the header of) a JPEG 2000 codestream or JP2 file
/// into 32-bit signed samples, one component plane after another (the inverse colour transform,
/// when the codestream has one, is applied by OpenJPEG). Returns 0, or 1 with a message.
static inline int galen_j2k_decode(const unsigned char *data, size_t size, int32_t *out, size_t out_count,
                                   int *width, int *height, int *components, int *precision,
                                   int *is_signed, char *message, size_t message_size) {
    message[0] = 0;
    galen_j2k_source source = {data, size, 0, message, message_size};
    static const unsigned char jp2_signature[] = {0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20};
    OPJ_CODEC_FORMAT format = size >= 8 && memcmp(data, jp2_signature, 8) == 0 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K;
    opj_codec_t *codec = opj_create_decompress(format);
    if (codec == NULL) { snprintf(message, message_size, "cannot create an OpenJPEG decoder"); return 1; }
    opj_set_info_handler(codec, galen_j2k_quiet, &source);
    opj_set_warning_handler(codec, galen_j2k_quiet, &source);
    opj_set_error_handler(codec, galen_j2k_error, &source);
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    opj_stream_t *stream = opj_stream_default_create(OPJ_TRUE);
    opj_image_t *image = NULL;
    int failed = 1;
    if (stream != NULL && opj_setup_decoder(codec, &parameters)) {
        opj_stream_set_user_data(stream, &source, NULL);
        opj_stream_set_user_data_length(stream, size);
        opj_stream_set_read_function(stream, galen_j2k_read);
        opj_stream_set_skip_function(stream, galen_j2k_skip);
        opj_stream_set_seek_function(stream, galen_j2k_seek);
        if (opj_read_header(stream, codec, &image) && image->numcomps > 0) {
            *width = (int)(image->x1 - image->x0);
            *height = (int)(image->y1 - image->y0);
            *components = (int)image->numcomps;
            *precision = (int)image->comps[0].prec;
            *is_signed = (int)image->comps[0].sgnd;
            if (out == NULL) {
                failed = 0;
            } else if (opj_decode(codec, stream, image) && opj_end_decompress(codec, stream)) {
                size_t plane = (size_t)(*width) * (size_t)(*height);
                failed = 0;
                if (plane * image->numcomps > out_count) {
                    snprintf(message, message_size, "decoded image is larger than the frame");
                    failed = 1;
                }
                for (OPJ_UINT32 c = 0; c < image->numcomps && !failed; c++) {
                    opj_image_comp_t *component = &image->comps[c];
                    if (component->data == NULL || (size_t)component->w * component->h != plane) {
                        snprintf(message, message_size, "component %u is %ux%u, not %dx%d (subsampled components are not supported)",
                                 c, component->w, component->h, *width, *height);
                        failed = 1;
                    } else {
                        memcpy(out + c * plane, component->data, plane * sizeof(int32_t));
                    }
                }
            }
        }
    }
    if (failed && message[0] == 0) snprintf(message, message_size, "OpenJPEG could not decode the data");
    if (image != NULL) opj_image_destroy(image);
    if (stream != NULL) opj_stream_destroy(stream);
    opj_destroy_codec(codec);
    return failed;
}
