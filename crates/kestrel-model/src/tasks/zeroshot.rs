//! Zero-shot classification and text retrieval as MS-CLIP does them.
//!
//! - Prompt templates: the 50 MS-CLIP templates (default), the 3 `clip` templates
//!   (MS-CLIP's `classname_and_prompt/CLIP.py`: "a centered satellite photo of {c}." and its
//!   "a"/"the" variants) or the bare class name.
//! - Class vector = mean of the L2-normalised template embeddings, renormalised
//!   (CLIP_benchmark's `zero_shot_classifier`); logits = 100 · cos (a fixed 100, not
//!   `exp(logit_scale)`); probabilities = softmax.
//! - Retrieval scores the raw query (no template) by cosine similarity
//!   ([`crate::tasks::retrieval`], which the classifier's logits use too).

use crate::tasks::retrieval::{argmax, dot};

/// The 50 MS-CLIP prompt templates (`{c}` is the class name; #7 has no final period).
pub const MSCLIP_TEMPLATES: [&str; 50] = [
    "a satellite image showing {c}.",
    "a satellite image showing a {c}.",
    "a satellite image showing the {c}.",
    "The image is a satellite view showing {c}.",
    "The image is a satellite view showing a {c}.",
    "The image is a satellite view showing the {c}.",
    "The image shows {c}",
    "a satellite image of {c}.",
    "a satellite image of a {c}.",
    "a satellite image of the {c}.",
    "the satellite image of {c}.",
    "the satellite image of a {c}.",
    "the satellite image of the {c}.",
    "a satellite view of {c}.",
    "a satellite view of a {c}.",
    "a satellite view of the {c}.",
    "a low resolution satellite image of the {c}.",
    "a low resolution satellite image of a {c}.",
    "a bad satellite image of the {c}.",
    "a bad satellite image of a {c}.",
    "a cropped satellite image of the {c}.",
    "a cropped satellite image of a {c}.",
    "a bright satellite image of the {c}.",
    "a bright satellite image of a {c}.",
    "a cropped aerial image of the {c}.",
    "a cropped aerial image of a {c}.",
    "a bright aerial image of the {c}.",
    "a bright aerial image of a {c}.",
    "a dark aerial image of the {c}.",
    "a dark aerial image of a {c}.",
    "a close-up aerial image of the {c}.",
    "a close-up aerial image of a {c}.",
    "a black and white aerial image of the {c}.",
    "a black and white aerial image of a {c}.",
    "a jpeg corrupted aerial image of the {c}.",
    "a jpeg corrupted aerial image of a {c}.",
    "a blurry aerial image of the {c}.",
    "a blurry aerial image of a {c}.",
    "a good aerial image of the {c}.",
    "a good aerial image of a {c}.",
    "an aerial image of the large {c}.",
    "an aerial image of a large {c}.",
    "an aerial image of the nice {c}.",
    "an aerial image of a nice {c}.",
    "an aerial image of the small {c}.",
    "an aerial image of a small {c}.",
    "an aerial image of the weird {c}.",
    "an aerial image of a weird {c}.",
    "an aerial image of the cool {c}.",
    "an aerial image of a cool {c}.",
];

/// MS-CLIP's `clip` template set.
pub const CLIP_TEMPLATES: [&str; 3] = [
    "a centered satellite photo of {c}.",
    "a centered satellite photo of a {c}.",
    "a centered satellite photo of the {c}.",
];

/// The scale MS-CLIP applies to cosine similarities before the softmax.
pub const ZERO_SHOT_LOGIT_SCALE: f32 = 100.0;

/// Which prompt templates to use for class names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TemplateSet {
    #[default]
    Msclip,
    Clip,
    /// The class name alone.
    None,
}

impl TemplateSet {
    pub fn templates(self) -> &'static [&'static str] {
        match self {
            Self::Msclip => &MSCLIP_TEMPLATES,
            Self::Clip => &CLIP_TEMPLATES,
            Self::None => &["{c}"],
        }
    }
}

/// Class name as put into prompts: lower-case, `_` and `/` become spaces (MS-CLIP's dataset
/// class names); the oracle's names are already in this form.
pub fn prompt_class_name(name: &str) -> String {
    name.trim().to_lowercase().replace(['_', '/'], " ")
}

/// The prompts for one class.
pub fn prompts_for(class: &str, templates: &[&str]) -> Vec<String> {
    let c = prompt_class_name(class);
    templates.iter().map(|t| t.replace("{c}", &c)).collect()
}

/// Mean of normalised vectors, renormalised.
pub fn class_vector(prompt_embeddings: &[Vec<f32>]) -> Vec<f32> {
    let d = prompt_embeddings.first().map_or(0, Vec::len);
    let mut mean = vec![0f64; d];
    for e in prompt_embeddings {
        let n = e
            .iter()
            .map(|v| (*v as f64).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        for (m, v) in mean.iter_mut().zip(e) {
            *m += *v as f64 / n;
        }
    }
    let k = prompt_embeddings.len().max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= k);
    let n = mean.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    mean.iter().map(|v| (v / n) as f32).collect()
}

/// A zero-shot classifier: one unit vector per class.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    pub classes: Vec<String>,
    /// `classes.len()` unit vectors.
    pub vectors: Vec<Vec<f32>>,
}

impl Classifier {
    /// Logits `100 · cos(image, class)` in class order (`image_embedding` is a unit
    /// vector, as the towers return it).
    pub fn logits(&self, image_embedding: &[f32]) -> Vec<f32> {
        self.vectors
            .iter()
            .map(|v| ZERO_SHOT_LOGIT_SCALE * dot(image_embedding, v))
            .collect()
    }

    /// Softmax of [`Self::logits`].
    pub fn probs(&self, image_embedding: &[f32]) -> Vec<f32> {
        softmax(&self.logits(image_embedding))
    }

    /// Index and name of the most probable class.
    pub fn top(&self, image_embedding: &[f32]) -> Option<(usize, &str)> {
        argmax(&self.logits(image_embedding)).map(|i| (i, self.classes[i].as_str()))
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|l| ((*l - m) as f64).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| (v / z) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_and_names() {
        assert_eq!(
            prompt_class_name("Annual_Crop/Pasture"),
            "annual crop pasture"
        );
        let p = prompts_for("urban area", &MSCLIP_TEMPLATES);
        assert_eq!(p.len(), 50);
        assert_eq!(p[0], "a satellite image showing urban area.");
        assert_eq!(p[6], "The image shows urban area");
        assert_eq!(
            prompts_for("Forest", TemplateSet::Clip.templates())[1],
            "a centered satellite photo of a forest."
        );
        assert_eq!(
            prompts_for("forest", TemplateSet::None.templates()),
            vec!["forest"]
        );
    }

    #[test]
    fn classifier_math() {
        let v = class_vector(&[vec![2.0, 0.0], vec![0.0, 5.0]]);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((v[0] - s).abs() < 1e-6 && (v[1] - s).abs() < 1e-6);
        let c = Classifier {
            classes: vec!["a".into(), "b".into()],
            vectors: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        };
        let p = c.probs(&[0.6, 0.8]);
        let want_b = 1.0 / (1.0 + (-20.0f64).exp());
        assert!((p[1] as f64 - want_b).abs() < 1e-7);
        assert_eq!(c.top(&[0.6, 0.8]), Some((1, "b")));
    }

    #[test]
    fn ranking_breaks_ties_by_index() {
        let items = [vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]];
        let r = crate::tasks::retrieval::rank(&crate::tasks::retrieval::score(
            items.iter().map(|v| Some(v.as_slice())),
            &[1.0, 0.1],
        ));
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 2, 1]);
    }
}
