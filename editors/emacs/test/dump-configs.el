;;; dump-configs.el --- Print dockdap.el's configurations as JSON -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/editors.rs as `emacs --batch -Q -l dump-configs.el' (no
;; package needed): stubs dape and dap-mode just enough for ../dockdap.el's
;; `with-eval-after-load' set-up to run, then prints one JSON object:
;;   {"dape": [{"name", "config", "adapter"}],
;;    "dapMode": [{"name", "config", "provided"}]}
;; `config' holds only the DAP arguments (dape's keyword keys; dap-mode's
;; keys without a dash, its own such as `:dap-server-path' have one),
;; `adapter' dape's own keys (command, port ...), `provided' what the
;; dap-mode provider adds.  The test checks the attribute names against
;; `dockdap schema'.

;;; Code:

(require 'json)

(defvar dape-configs nil)
(defvar dump--templates nil)
(defvar dump--provider nil)
(defun dap-register-debug-provider (language-id fn)
  "Stub: remember FN for LANGUAGE-ID."
  (setq dump--provider (cons language-id fn)))
(defun dap-register-debug-template (name settings)
  "Stub: remember template NAME with SETTINGS."
  (setq dump--templates (append dump--templates (list (cons name settings)))))

(provide 'dape)
(provide 'dap-mode)
(load (expand-file-name "../dockdap.el" (file-name-directory load-file-name)) nil t)

(defun dump--value (v)
  "V as something `json-encode' writes faithfully."
  (cond ((and (consp v) (keywordp (car v))) (dump--object v (lambda (_) t)))
        ((consp v) (vconcat (mapcar #'dump--value v)))
        ((vectorp v) (vconcat (mapcar #'dump--value v)))
        ((or (stringp v) (numberp v)) v)
        ((eq v t) t)
        ((null v) :json-false)
        ((symbolp v) (format "<%s>" v))
        (t (format "%S" v))))

(defun dump--object (plist keep)
  "PLIST's keyword keys for which KEEP (the name without colon) is true, as a hash table."
  (let ((table (make-hash-table :test 'equal)))
    (while plist
      (let ((key (car plist)) (value (cadr plist)))
        (when (keywordp key)
          (let ((name (substring (symbol-name key) 1)))
            (when (funcall keep name)
              (puthash name (dump--value value) table)))))
      (setq plist (cddr plist)))
    table))

(defun dump--dape-own (plist)
  "The non-keyword (dape's own) keys of PLIST, as a hash table."
  (let ((table (make-hash-table :test 'equal)))
    (while plist
      (unless (keywordp (car plist))
        (puthash (symbol-name (car plist)) (dump--value (cadr plist)) table))
      (setq plist (cddr plist)))
    table))

(defun dump--no-dash (name) "NAME has no dash." (not (string-match-p "-" name)))

(princ
 (json-encode
  (list
   (cons "dape"
         (vconcat
          (mapcar (lambda (entry)
                    (list (cons "name" (symbol-name (car entry)))
                          (cons "config" (dump--object (cdr entry) (lambda (_) t)))
                          (cons "adapter" (dump--dape-own (cdr entry)))))
                  dape-configs)))
   (cons "dapMode"
         (vconcat
          (mapcar (lambda (entry)
                    (list (cons "name" (car entry))
                          (cons "config" (dump--object (cdr entry) #'dump--no-dash))
                          (cons "provided"
                                (dump--object (funcall (cdr dump--provider) (copy-sequence (cdr entry)))
                                              (lambda (name) (not (dump--no-dash name)))))))
                  dump--templates)))
   (cons "provider" (car dump--provider)))))
(terpri)

;;; dump-configs.el ends here
