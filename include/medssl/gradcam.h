/* gradcam — why a fine-tuned model decided: Grad-CAM (Selvaraju et al. 2017)
 * for classification and Seg-Grad-CAM (Vinogradova et al. 2020) for
 * segmentation, on one image at a time, in eval mode.
 *
 * For the chosen layer's activation A (K maps of h x w) and a score y_c:
 *   classify  y_c = the logit of class c (before the softmax)
 *   segment   y_c = the sum of the class-c logits over a region R of pixels
 *             (the pixels predicted as c, or a given mask)
 * alpha_k = mean over the h x w positions of dy_c/dA_k (one backward pass),
 * map = ReLU(sum_k alpha_k A_k), bilinearly resized to the image's H x W
 * (align_corners=False) and divided by its maximum (all 0 when the maximum
 * is 0). For a global-average-pool + linear head at the last encoder stage
 * this equals CAM (Zhou et al. 2016): alpha_k = w_ck / (h w).
 *
 * Layers: "stageK" (the output of encoder stage K, before pooling; default:
 * the last stage), or the name of any op (e.g. "encoder.stage1.conv0",
 * "encoder.stage2.bn1"): its output.
 *
 * Dimension legend: C channels, H, W image size; K maps of h x w at the layer.
 */
#ifndef MEDSSL_GRADCAM_H
#define MEDSSL_GRADCAM_H

#include <stdint.h>

#include "medssl/predict.h"

/* The value id of layer `name` in p's model (NULL or "": the last stage);
 * MS_ERR_INPUT naming the layer and listing the stages otherwise. */
int gradcam_layer(const ms_predictor *p, const char *name, int *value);

/* Makes every activation of p's model carry a gradient (a checkpoint may hold
 * frozen tensors) and plans it for one image; call once before gradcam_run. */
int gradcam_prepare(ms_predictor *p);

typedef struct {
    int cls;           /* the class explained */
    float prob;        /* its softmax probability (segment: mean over the region) */
    int region;        /* segment: pixels in R (0: the map is all 0) */
    int h, w, K;       /* the layer's maps */
} gradcam_info;

/* The map (H, W) in [0, 1] for image img (C, H, W). cls < 0: the predicted
 * class (segment: the most frequent non-background class of the prediction,
 * else 0). region (H, W) or NULL (segment: the pixels predicted as cls).
 * With acts (K*h*w) non-NULL the layer's activation is copied there too (the
 * feature maps), with grads (K*h*w) its gradient. */
int gradcam_run(ms_predictor *p, int layer, const float *img, int cls, const uint8_t *region, float *map,
                gradcam_info *info, float *acts, float *grads);

#endif
