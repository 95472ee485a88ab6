// oneDNN 2.x C API (Debian's libdnnl-dev): the convolution primitives behind Galen's fast conv2d.
// Debian ships no pkg-config file for it; the headers live on the default include path.
//
// OpenMP's thread controls are not declared here on purpose: omp.h sits in GCC's private include
// directory and only libgomp.so.1 (no unversioned link) is installed, so Galen looks
// omp_set_num_threads up at run time in the libgomp that libdnnl already loaded.
#include <oneapi/dnnl/dnnl.h>
