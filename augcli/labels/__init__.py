"""Labels that travel with the images: YOLO, COCO, Pascal VOC and segmentation masks."""
