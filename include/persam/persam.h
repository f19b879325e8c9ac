/* persam-engine's C API (C99): Segment Anything, PerSAM / PerSAM-F and the
 * automatic mask generator on the CPU, usable from C, C++, Rust, Go, C#,
 * Python (ctypes) ...
 *
 * Conventions
 * - Objects are opaque handles created by persam_*_create / _load /
 *   _compute / _predict / _generate functions and released by the matching
 *   persam_*_free (which accept NULL).
 * - Every fallible call returns a persam_status; on failure
 *   persam_last_error() returns a message naming the argument or file at
 *   fault (thread-local; valid until the next call on the same thread).
 *   No C++ exception ever leaves the library.
 * - Images are row-major; coordinates are pixels of the original image,
 *   x to the right, y down; sizes are given as (width, height) arguments but
 *   arrays are [height][width]. Masks are uint8, 0 background, 1 foreground.
 * - Buffers returned by accessor functions (const float* ...) belong to the
 *   object and live until it is freed. persam_*_copy_* functions write into
 *   a caller-provided buffer whose size (in elements) the caller states.
 * - The only global state is the thread count (persam_set_num_threads).
 *   Handles may be used from several threads; calls on one model are
 *   serialised internally where they share buffers.
 */
#ifndef PERSAM_PERSAM_H_
#define PERSAM_PERSAM_H_

#include <stddef.h>
#include <stdint.h>

#if defined(PERSAM_BUILDING_LIBRARY) && defined(__GNUC__)
#define PERSAM_API __attribute__((visibility("default")))
#else
#define PERSAM_API
#endif

/* Bumped on any incompatible change of this header. */
#define PERSAM_API_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

typedef enum persam_status {
  PERSAM_OK = 0,
  PERSAM_ERROR_INVALID_ARGUMENT = 1, /* NULL handle/pointer, size or value out of range */
  PERSAM_ERROR_ENGINE = 2,           /* the engine refused: unreadable or malformed file, bad prompt, mismatch */
  PERSAM_ERROR_OUT_OF_MEMORY = 3,
  PERSAM_ERROR_INTERNAL = 4 /* anything else (a bug: please report it with the message) */
} persam_status;

/* PERSAM_API_VERSION of the library actually loaded (compare with the
 * header's to detect a mismatched libpersam.so). */
PERSAM_API int persam_api_version(void);
/* The engine's version, e.g. "0.1.0". */
PERSAM_API const char* persam_version(void);
/* Message of the last failed call on this thread ("" after a success). */
PERSAM_API const char* persam_last_error(void);
/* "PERSAM_OK", "PERSAM_ERROR_INVALID_ARGUMENT", ... */
PERSAM_API const char* persam_status_name(persam_status status);
/* Worker threads of every later call; <= 0: all cores; more than 4 per core:
   PERSAM_ERROR_INVALID_ARGUMENT. */
PERSAM_API persam_status persam_set_num_threads(int threads);

/* ---- Models ---------------------------------------------------------- */

typedef struct persam_model persam_model;

typedef enum persam_precision {
  PERSAM_PRECISION_DEFAULT = 0, /* the file's own (f32 unless converted to bf16 / int8) */
  PERSAM_PRECISION_F32 = 1,
  PERSAM_PRECISION_BF16 = 2,
  PERSAM_PRECISION_INT8 = 3
} persam_precision;

typedef struct persam_model_options {
  int threads;                /* > 0: set the thread count (persam_set_num_threads) before loading */
  persam_precision precision; /* the image encoder's compute precision */
} persam_model_options;

/* Defaults: threads 0 (leave as is), PERSAM_PRECISION_DEFAULT. */
PERSAM_API void persam_model_options_init(persam_model_options* options);
/* A SAM / MobileSAM checkpoint: official .pth or .safetensors. options may be NULL. */
PERSAM_API persam_status persam_model_load(const char* path, const persam_model_options* options,
                                           persam_model** out_model);
PERSAM_API void persam_model_free(persam_model* model);

typedef struct persam_model_info {
  char encoder[16];         /* "vit" or "tinyvit" */
  persam_precision precision; /* the precision the encoder runs at */
  int image_size;           /* 1024 */
  int embed_dim;            /* 256 */
  int embed_grid;           /* 64 */
  int low_res_size;         /* 256: side of the low-res logits / mask inputs */
} persam_model_info;
PERSAM_API persam_status persam_model_get_info(const persam_model* model, persam_model_info* out_info);

/* ---- Images ---------------------------------------------------------- */

typedef struct persam_image persam_image;

/* JPEG / PNG / BMP / TGA (EXIF orientation applied as OpenCV's imread). */
PERSAM_API persam_status persam_image_load(const char* path, persam_image** out_image);
/* Copies width x height pixels of `channels` bytes (3 = RGB, 4 = RGBA, alpha
 * ignored); rows `stride_bytes` apart (>= width * channels). */
PERSAM_API persam_status persam_image_from_pixels(const uint8_t* pixels, int width, int height,
                                                  size_t stride_bytes, int channels,
                                                  persam_image** out_image);
PERSAM_API int persam_image_width(const persam_image* image);  /* 0 for NULL */
PERSAM_API int persam_image_height(const persam_image* image); /* 0 for NULL */
PERSAM_API void persam_image_free(persam_image* image);

/* ---- Embeddings (the image encoder's output) ------------------------- */

typedef struct persam_embedding persam_embedding;

PERSAM_API persam_status persam_embedding_compute(const persam_model* model, const persam_image* image,
                                                  persam_embedding** out_embedding);
/* The files `persam embed` writes: PATH (.npy, float32 1 x 256 x 64 x 64)
 * and PATH.json (the image geometry). */
PERSAM_API persam_status persam_embedding_save(const persam_embedding* embedding, const char* path);
/* Reads what persam_embedding_save / `persam embed` wrote, for an image of
 * image_width x image_height; checks the shape against the model and the
 * recorded image size. */
PERSAM_API persam_status persam_embedding_load(const persam_model* model, const char* path, int image_width,
                                               int image_height, persam_embedding** out_embedding);
PERSAM_API int persam_embedding_image_width(const persam_embedding* embedding);
PERSAM_API int persam_embedding_image_height(const persam_embedding* embedding);
PERSAM_API void persam_embedding_free(persam_embedding* embedding);

/* ---- Prompts and predictions (SamPredictor.predict) ------------------ */

typedef struct persam_prompt {
  const float* point_coords;  /* [num_points][2] x, y; NULL when num_points == 0 */
  const int32_t* point_labels; /* [num_points]: 1 foreground, 0 background */
  int num_points;
  /* [num_boxes][4] x0, y0, x1, y1. Several boxes are a batch: one prompt per
   * box (each with the points and mask input above), one result each. */
  const float* boxes;
  int num_boxes;
  const float* mask_input; /* [256][256] low-res logits (e.g. an earlier low_res), or NULL */
  int multimask_output;    /* nonzero: SAM's three candidate masks per prompt, else one */
} persam_prompt;

/* Zeroes everything (no points, no box, no mask input, single mask). */
PERSAM_API void persam_prompt_init(persam_prompt* prompt);

typedef struct persam_prediction persam_prediction;

PERSAM_API persam_status persam_predict(const persam_model* model, const persam_embedding* embedding,
                                        const persam_prompt* prompt, persam_prediction** out_prediction);
PERSAM_API int persam_prediction_batch(const persam_prediction* p);     /* prompts: max(1, num_boxes) */
PERSAM_API int persam_prediction_num_masks(const persam_prediction* p); /* per prompt: 1 or 3 */
PERSAM_API int persam_prediction_width(const persam_prediction* p);
PERSAM_API int persam_prediction_height(const persam_prediction* p);
/* [batch][num_masks] predicted IoU. */
PERSAM_API const float* persam_prediction_scores(const persam_prediction* p);
/* [batch][num_masks][256][256] low-res logits. */
PERSAM_API const float* persam_prediction_low_res(const persam_prediction* p);
/* [batch][num_masks][height][width] logits at the image's size (mask = > 0). */
PERSAM_API const float* persam_prediction_logits(const persam_prediction* p);
/* Writes the 0/1 masks [batch][num_masks][height][width] into out, which
 * holds `capacity` bytes (>= batch * num_masks * height * width). */
PERSAM_API persam_status persam_prediction_copy_masks(const persam_prediction* p, uint8_t* out, size_t capacity);
PERSAM_API void persam_prediction_free(persam_prediction* p);

/* ---- PerSAM / PerSAM-F ----------------------------------------------- */

typedef struct persam_personalizer persam_personalizer;

typedef struct persam_personalize_options {
  int finetune; /* nonzero: PerSAM-F (learns the mask weights on the reference) */
} persam_personalize_options;
PERSAM_API void persam_personalize_options_init(persam_personalize_options* options);

/* The reference: an image and its mask [height][width] (nonzero =
 * the object), the image's size. options may be NULL (PerSAM). */
PERSAM_API persam_status persam_personalizer_create(const persam_model* model, const persam_image* reference,
                                                    const uint8_t* reference_mask, int mask_width,
                                                    int mask_height, const persam_personalize_options* options,
                                                    persam_personalizer** out_personalizer);
/* Segments the concept in `target`: writes its 0/1 mask [height][width]
 * into out_mask (capacity >= width * height bytes) and, when out_point is
 * not NULL, the location prior's positive point (x, y) (NaN, NaN when the
 * cascade had none). */
PERSAM_API persam_status persam_personalizer_segment(const persam_personalizer* personalizer,
                                                     const persam_image* target, uint8_t* out_mask,
                                                     size_t capacity, float* out_point);
PERSAM_API void persam_personalizer_free(persam_personalizer* personalizer);

/* ---- Automatic mask generation (SamAutomaticMaskGenerator) ----------- */

typedef struct persam_amg_options {
  int points_per_side;                /* 32 */
  int points_per_batch;               /* 64 */
  double pred_iou_thresh;             /* 0.88 */
  double stability_score_thresh;      /* 0.95 */
  double stability_score_offset;      /* 1.0 */
  double box_nms_thresh;              /* 0.7 */
  int crop_n_layers;                  /* 0 */
  double crop_nms_thresh;             /* 0.7 */
  double crop_overlap_ratio;          /* 512 / 1500 */
  int crop_n_points_downscale_factor; /* 1 */
  int64_t min_mask_region_area;       /* 0 */
} persam_amg_options;
/* The official defaults (above). */
PERSAM_API void persam_amg_options_init(persam_amg_options* options);

typedef struct persam_mask_set persam_mask_set;

typedef struct persam_mask_record {
  int64_t area;
  int bbox[4];            /* x, y, w, h of the inclusive box (w = x_max - x_min, as the reference) */
  float predicted_iou;
  double point_coords[2]; /* the prompt point, image pixels */
  float stability_score;  /* may be NaN */
  int crop_box[4];        /* x, y, w, h */
} persam_mask_record;

/* options may be NULL (the defaults). Records in the reference's order. */
PERSAM_API persam_status persam_generate_masks(const persam_model* model, const persam_image* image,
                                               const persam_amg_options* options, persam_mask_set** out_masks);
PERSAM_API int persam_mask_set_count(const persam_mask_set* masks);
PERSAM_API persam_status persam_mask_set_get(const persam_mask_set* masks, int index, persam_mask_record* out_record);
/* The mask of record `index` as 0/1 [height][width] of the image. */
PERSAM_API persam_status persam_mask_set_copy_mask(const persam_mask_set* masks, int index, uint8_t* out,
                                                   size_t capacity);
PERSAM_API void persam_mask_set_free(persam_mask_set* masks);

#ifdef __cplusplus
}
#endif

#endif /* PERSAM_PERSAM_H_ */
