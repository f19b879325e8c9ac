// JPEG through libjpeg-turbo, the decoder OpenCV and Pillow use: with its
// defaults (ISLOW integer IDCT, fancy chroma upsampling) the pixels are
// bit-identical to the reference's cv2.imread / Image.open.
//
// Unlike OpenCV we refuse a file whose data ends before the image does
// (libjpeg would warn and fill the rest with grey): invented pixels are a
// silent wrong result. Other recoverable warnings (extraneous bytes, a bad
// Huffman code) decode as OpenCV and Pillow decode them.
//
// libjpeg reports errors through a callback that must not return; it
// longjmps back to the setjmp in the function that called libjpeg, whose
// locals are all trivially destructible (C++ objects live in the caller).
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <memory>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "base/error.h"
#include "engine/image_formats.h"

namespace persam {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg sees an ErrorManager* as jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void ErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  cinfo->err->format_message(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) about data that ends early become errors; the others
// and trace messages are dropped (libjpeg would print them to stderr).
void EmitMessage(j_common_ptr cinfo, int level) {
  if (level == -1 && (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER)) {
    ErrorExit(cinfo);
  }
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  Decoder() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = &ErrorExit;
    err.pub.emit_message = &EmitMessage;
    err.message[0] = '\0';
    jpeg_create_decompress(&cinfo);
  }
  ~Decoder() { jpeg_destroy_decompress(&cinfo); }
};

// OpenCV's icvCvt_CMYK2BGR_8u_C4C3R on libjpeg's CMYK output, which for
// Adobe files (the common kind) holds inverted inks: 255 = no ink.
inline uint8_t InkToRgb(int ink, int black) { return static_cast<uint8_t>(black - ((255 - ink) * black >> 8)); }

// Reads header, checks size, decodes into `image`; returns false after a
// libjpeg error (message in dec->err.message). `cmyk_row` is scratch space.
bool DecodeInto(Decoder* dec, const uint8_t* data, size_t size, const std::string& name,
                RgbImage* image, std::vector<uint8_t>* cmyk_row) {
  jpeg_decompress_struct* cinfo = &dec->cinfo;
  if (setjmp(dec->err.jump)) return false;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  CheckImageSize(name, "JPEG", cinfo->image_width, cinfo->image_height);
  // A Huffman-coded image spends at least one bit on every 8 x 8 block of
  // its full-resolution component (the DC code), so a short file cannot
  // claim a huge image and have libjpeg allocate for it (a progressive
  // file's coefficients are allocated before any scan is read).
  // Arithmetic coding has no such floor; the pixel limit bounds it.
  const uint64_t blocks = (uint64_t{cinfo->image_width} + 7) / 8 * ((uint64_t{cinfo->image_height} + 7) / 8);
  if (!cinfo->arith_code && uint64_t{size} * 8 < blocks) {
    throw Error("image '" + name + "': JPEG header claims " + std::to_string(cinfo->image_width) + " x " +
                std::to_string(cinfo->image_height) + " pixels, which need at least " +
                std::to_string((blocks + 7) / 8) + " bytes of coded data; the file has " + std::to_string(size));
  }
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  // YCCK is converted to CMYK by libjpeg; everything else (grey, YCbCr, RGB)
  // to RGB. Stated although they are the defaults: parity depends on them.
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  cinfo->dct_method = JDCT_ISLOW;
  cinfo->do_fancy_upsampling = TRUE;
  jpeg_start_decompress(cinfo);
  const size_t width = cinfo->output_width, height = cinfo->output_height;
  const size_t row_bytes = width * 3;
  image->width = static_cast<int>(width);
  image->height = static_cast<int>(height);
  // Grown row by row: a truncated file costs the rows it holds.
  image->pixels.reserve(row_bytes * height);
  if (cmyk) cmyk_row->resize(width * 4);
  while (cinfo->output_scanline < height) {
    const size_t y = cinfo->output_scanline;
    image->pixels.resize(row_bytes * (y + 1));
    uint8_t* out = image->pixels.data() + row_bytes * y;
    JSAMPROW row = cmyk ? cmyk_row->data() : out;
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) return false;
    if (cmyk) {
      const uint8_t* in = cmyk_row->data();
      for (size_t x = 0; x < width; ++x, in += 4, out += 3) {
        out[0] = InkToRgb(in[0], in[3]);
        out[1] = InkToRgb(in[1], in[3]);
        out[2] = InkToRgb(in[2], in[3]);
      }
    }
  }
  // Not jpeg_finish_decompress: what follows the last row (markers, EOI) does
  // not change the pixels, and a missing EOI should not fail a whole image.
  return true;
}

struct Compressor {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  unsigned char* buffer = nullptr;
  unsigned long buffer_size = 0;
  Compressor() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = &ErrorExit;
    err.message[0] = '\0';
    jpeg_create_compress(&cinfo);
  }
  ~Compressor() {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
  }
};

bool EncodeInto(Compressor* enc, const RgbImage& image, int quality) {
  jpeg_compress_struct* cinfo = &enc->cinfo;
  if (setjmp(enc->err.jump)) return false;
  jpeg_mem_dest(cinfo, &enc->buffer, &enc->buffer_size);
  cinfo->image_width = static_cast<JDIMENSION>(image.width);
  cinfo->image_height = static_cast<JDIMENSION>(image.height);
  cinfo->input_components = 3;
  cinfo->in_color_space = JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  const size_t row_bytes = size_t(image.width) * 3;
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data() + row_bytes * cinfo->next_scanline);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

}  // namespace

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const std::string& name) {
  Decoder dec;
  RgbImage image;
  std::vector<uint8_t> cmyk_row;
  if (!DecodeInto(&dec, data, size, name, &image, &cmyk_row)) {
    throw Error("image '" + name + "': cannot decode JPEG (" + dec.err.message + ")");
  }
  return image;
}

std::vector<uint8_t> EncodeJpegBytes(const RgbImage& image, int quality) {
  Compressor enc;
  if (!EncodeInto(&enc, image, quality)) {
    throw Error(std::string("JPEG encoder: cannot encode (") + enc.err.message + ")");
  }
  return std::vector<uint8_t>(enc.buffer, enc.buffer + enc.buffer_size);
}

}  // namespace persam
