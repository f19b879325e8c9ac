/* segment_point: persam's C API in a few lines, as a user would write it.
 *
 *   segment_point MODEL IMAGE X Y [MASK.pgm]
 *
 * Loads a SAM checkpoint and an image, computes the image embedding, asks
 * for one mask at the foreground point (X, Y) (pixels of the image) and
 * prints its predicted IoU and area; with MASK.pgm, also writes the mask
 * there as a binary PGM (0 / 255). Built against an installed persam with
 *   cc -std=c99 segment_point.c $(pkg-config --cflags --libs persam)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "persam/persam.h"

/* Prints the failed step with the library's message; returns 0 on failure. */
static int ok(persam_status status, const char* step) {
  if (status == PERSAM_OK) return 1;
  fprintf(stderr, "segment_point: %s: %s (%s)\n", step, persam_last_error(), persam_status_name(status));
  return 0;
}

static int write_pgm(const char* path, const uint8_t* mask, int width, int height) {
  FILE* f = fopen(path, "wb");
  if (f == NULL) return 0;
  fprintf(f, "P5\n%d %d\n255\n", width, height);
  for (size_t i = 0; i < (size_t)width * height; ++i) fputc(mask[i] ? 255 : 0, f);
  return fclose(f) == 0;
}

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: segment_point MODEL IMAGE X Y [MASK.pgm]\n");
    return 2;
  }
  if (persam_api_version() != PERSAM_API_VERSION) {
    fprintf(stderr, "segment_point: built for persam C API %d, libpersam.so is %d\n", PERSAM_API_VERSION,
            persam_api_version());
    return 1;
  }
  const float point[2] = {strtof(argv[3], NULL), strtof(argv[4], NULL)};
  const int32_t label = 1; /* foreground */

  int rc = 1;
  persam_model* model = NULL;
  persam_image* image = NULL;
  persam_embedding* embedding = NULL;
  persam_prediction* prediction = NULL;
  uint8_t* mask = NULL;
  persam_prompt prompt;

  if (!ok(persam_model_load(argv[1], NULL, &model), "loading the model")) goto done;
  if (!ok(persam_image_load(argv[2], &image), "loading the image")) goto done;
  if (!ok(persam_embedding_compute(model, image, &embedding), "encoding the image")) goto done;

  persam_prompt_init(&prompt);
  prompt.point_coords = point;
  prompt.point_labels = &label;
  prompt.num_points = 1;
  prompt.multimask_output = 0; /* one mask */
  if (!ok(persam_predict(model, embedding, &prompt, &prediction), "predicting")) goto done;

  const int width = persam_prediction_width(prediction), height = persam_prediction_height(prediction);
  const size_t pixels = (size_t)width * height;
  mask = malloc(pixels);
  if (mask == NULL) goto done;
  if (!ok(persam_prediction_copy_masks(prediction, mask, pixels), "copying the mask")) goto done;
  long area = 0;
  for (size_t i = 0; i < pixels; ++i) area += mask[i];
  printf("persam %s, image %d x %d, point (%g, %g)\n", persam_version(), width, height, point[0], point[1]);
  printf("mask 0: score %.4f, area %ld px\n", persam_prediction_scores(prediction)[0], area);
  if (argc == 6 && !write_pgm(argv[5], mask, width, height)) {
    fprintf(stderr, "segment_point: cannot write %s\n", argv[5]);
    goto done;
  }
  rc = 0;

done:
  free(mask);
  persam_prediction_free(prediction);
  persam_embedding_free(embedding);
  persam_image_free(image);
  persam_model_free(model);
  return rc;
}
