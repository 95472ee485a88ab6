// zlib: deflate/inflate for .npz, .nii.gz and PNG.
#include <zlib.h>
