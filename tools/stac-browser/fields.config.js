// stacgen's field metadata for STAC Browser (replaces the package's fields.config.js at build
// time, tools/build-browser.sh): the alcd:* fields with their titles and units, and labels that
// say what the catalog's numbers are. Registry: @radiantearth/stac-fields (its README, "Registry").
import { Registry } from '@radiantearth/stac-fields';

Registry.addExtension('alcd', 'ALCD reference mask');

const percent = (label) => ({ label, unit: '%' });
// The k-fold cross-validation scores of the operator's samples (k_fold_summary.json).
const score = (label) => ({ label: `${label} (k-fold mean)` });
const spread = (label) => ({ label: `${label} (k-fold std. dev.)` });

Registry.addMetadataFields({
  // Shares of the valid pixels, as eo:cloud_cover and eo:snow_cover (which stac-fields knows).
  'alcd:shadow_cover': percent('Cloud Shadow Cover'),
  'alcd:water_cover': percent('Water Cover'),
  'alcd:valid_percent': percent('Valid Pixels'),
  'alcd:site': { label: 'Site' },
  'alcd:clear_date': { label: 'Clear Reference Date' },
  'alcd:clear_product_name': { label: 'Clear Reference Product' },
  'alcd:subsets': { label: 'Archive Subsets' },
  'alcd:parameters': { label: 'ALCD Parameters' },
  'alcd:accuracy': score('Accuracy'),
  'alcd:accuracy_std': spread('Accuracy'),
  'alcd:f1_score': score('F1 Score'),
  'alcd:f1_score_std': spread('F1 Score'),
  'alcd:precision': score('Precision'),
  'alcd:precision_std': spread('Precision'),
  'alcd:recall': score('Recall'),
  'alcd:recall_std': spread('Recall'),
  'alcd:specificity': score('Specificity'),
  'alcd:specificity_std': spread('Specificity'),
  'alcd:k_folds': { label: 'Cross-validation Folds' },
});

// classification:classes counts pixels: each class's pixels and its share of the raster's.
const classes = Registry.getSpecification('classification:classes');
Registry.addMetadataField('classification:classes', {
  ...classes,
  items: {
    ...classes.items,
    percentage: { ...classes.items.percentage, label: 'Share of pixels' },
    count: { ...classes.items.count, label: 'Pixels' },
  },
});
