// libjpeg-turbo (8-bit JPEG baseline) for Galen's DICOM reader. libjpeg reports fatal errors by
// calling error_exit, which by default ends the process; here it jumps back to the caller instead,
// so corrupt data becomes an error message. A premature end of data, which libjpeg only warns
// about (and pads with grey), is treated as an error too.
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

struct galen_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void galen_jpeg_error_exit(j_common_ptr info) {
    struct galen_jpeg_error *error = (struct galen_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

static void galen_jpeg_emit_message(j_common_ptr info, int level) {
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) galen_jpeg_error_exit(info);
}

/// Decodes (or, with out == NULL, only reads the header of) one JPEG image into 8-bit samples,
/// interleaved per pixel; 3-component images come out as RGB. With rgb_input, a 3-component image
/// without a JFIF or Adobe colour-transform marker is taken as RGB rather than YCbCr. Returns 0,
/// or 1 with a message (at least JMSG_LENGTH_MAX bytes).
static inline int galen_jpeg_decode(const unsigned char *data, unsigned long size, int rgb_input,
                                    unsigned char *out, size_t out_size, int *width, int *height,
                                    int *components, int *precision, char *message) {
    struct jpeg_decompress_struct info;
    struct galen_jpeg_error error;
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = galen_jpeg_error_exit;
    error.base.emit_message = galen_jpeg_emit_message;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        strncpy(message, error.message, JMSG_LENGTH_MAX - 1);
        message[JMSG_LENGTH_MAX - 1] = 0;
        jpeg_destroy_decompress(&info);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    *width = (int)info.image_width;
    *height = (int)info.image_height;
    *components = info.num_components;
    *precision = info.data_precision;
    if (out == NULL) {
        jpeg_destroy_decompress(&info);
        return 0;
    }
    if (info.num_components == 3) {
        if (rgb_input && !info.saw_JFIF_marker && !(info.saw_Adobe_marker && info.Adobe_transform != 0))
            info.jpeg_color_space = JCS_RGB;
        info.out_color_space = JCS_RGB;
    } else if (info.num_components == 1) {
        info.out_color_space = JCS_GRAYSCALE;
    } else {
        snprintf(message, JMSG_LENGTH_MAX, "%d components (only 1 or 3 are supported)", info.num_components);
        jpeg_destroy_decompress(&info);
        return 1;
    }
    jpeg_start_decompress(&info);
    size_t stride = (size_t)info.output_width * (size_t)info.output_components;
    if (stride * info.output_height > out_size) {
        snprintf(message, JMSG_LENGTH_MAX, "decoded image is larger than the frame");
        jpeg_destroy_decompress(&info);
        return 1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = out + (size_t)info.output_scanline * stride;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return 0;
}
