/**
 * The model chooser in a panel's header: a list of the served models, "None", and "Open a model
 * folder…" (a directory picker, also behind its own button), plus dropping a folder on the panel.
 * It only reports choices; the panel loads them.
 */
import { variantLabel } from 'diff-transformer/browser';
import { el } from './dom.ts';
import { folderFromDrop, folderFromFileList, type PickedFolder } from './folder.ts';

export interface ServedModelEntry {
  id: string;
  name: string;
  files: Record<string, boolean>;
  config: unknown;
  configError?: string;
}

export interface PickerHooks {
  served(model: ServedModelEntry): void;
  folder(folder: PickedFolder): void;
  none(): void;
}

/** The list's value for "no model". */
export const NONE = '';
const FOLDER = '__folder__';

export class ModelPicker {
  readonly select: HTMLSelectElement;
  readonly picker: HTMLInputElement;
  readonly openButton: HTMLButtonElement;
  /** The value the list shows for the model loaded (or loading): restored after "Open a folder…". */
  private current = NONE;

  constructor(key: 'A' | 'B', served: readonly ServedModelEntry[], hooks: PickerHooks) {
    this.select = el('select', { class: 'model-select', 'aria-label': `model ${key}` });
    this.select.append(
      el('option', { value: NONE }, key === 'A' ? 'Choose a model…' : 'None (single model)'),
    );
    for (const m of served) {
      const variant = (m.config as { variant?: string } | null)?.variant;
      this.select.append(
        el('option', { value: m.id }, `${m.name}${variant ? ` · ${variantLabel(variant)}` : ''}`),
      );
    }
    this.select.append(el('option', { value: FOLDER }, 'Open a model folder…'));
    this.picker = el('input', { type: 'file', class: 'hidden-input', webkitdirectory: '', multiple: '' });
    this.openButton = el('button', { type: 'button', class: 'ghost' }, 'Open folder…');
    this.openButton.addEventListener('click', () => this.picker.click());
    this.picker.addEventListener('change', () => {
      if (this.picker.files?.length) hooks.folder(folderFromFileList(this.picker.files));
      this.picker.value = '';
    });
    this.select.addEventListener('change', () => {
      const value = this.select.value;
      if (value === FOLDER) {
        this.picker.click();
        this.select.value = this.current;
      } else if (value === NONE) hooks.none();
      else {
        const m = served.find((s) => s.id === value);
        if (m) hooks.served(m);
      }
    });
  }

  /** Show `value` as chosen; `remember` makes it the one restored after "Open a folder…". */
  show(value: string, remember = true): void {
    if (remember) this.current = value;
    this.select.value = value;
  }

  /** The list's entry for a local folder (replacing an earlier one), just above "Open a folder…". */
  addFolder(name: string): string {
    const option = el('option', { value: `folder:${name}` }, `${name} (local folder)`);
    this.select.querySelector('option[value^="folder:"]')?.remove();
    this.select.insertBefore(option, this.select.lastChild);
    return option.value;
  }

  /** Folders dropped on `target` are reported like picked ones (`dragging` marks a drag over it). */
  acceptDrops(target: HTMLElement, hooks: Pick<PickerHooks, 'folder'>): void {
    target.addEventListener('dragover', (e) => {
      e.preventDefault();
      target.classList.add('dragging');
    });
    target.addEventListener('dragleave', () => target.classList.remove('dragging'));
    target.addEventListener('drop', (e) => {
      e.preventDefault();
      target.classList.remove('dragging');
      if (e.dataTransfer) void folderFromDrop(e.dataTransfer).then((f) => hooks.folder(f));
    });
  }
}
