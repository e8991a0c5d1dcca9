;;; dap-mode-session.el --- A real dap-mode session through dockdap -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/editors.rs in `emacs --batch' with Debian's elpa-dap-mode:
;; dap-mode, a DAP client we did not write, starts dockdap (through
;; ../dockdap.el's provider) on stdio and attaches it with `connect' to a
;; real `python -m debugpy --listen' running the fixture app from another
;; folder.  The breakpoint is set on the workspace copy; the test checks
;; that dap-mode stops there with workspace paths, reads a local, evaluates,
;; gets an answer to a custom request (`dockdap-request'), continues, and
;; sees the session end.
;;
;; SCENARIO=launch instead launches the example's debug image (IMAGE,
;; CONTAINER) with WORKSPACE as localRoot, sends scoring requests through
;; `dockdap-score' and `dockdap-request' that stop at the breakpoint in
;; run(), checks the replies, and disconnects.
;;
;; Environment: SCENARIO (attach|launch), DOCKDAP_BIN, WORKSPACE, BREAK_LINE;
;; attach: DEBUGPY_PORT, APP_ROOT; launch: IMAGE, CONTAINER.
;; Prints "dap-mode-session: ok" and exits 0, or prints why and exits 1.
;; Not a general test harness: one conversation, in order.

;;; Code:

(require 'dap-mode)
(require 'dap-ui) ; dap-mode reads `dap-exception-breakpoints' from it; every real set-up loads it
(load (expand-file-name "../dockdap.el" (file-name-directory load-file-name)) nil t)

(defun dms-fail (format-string &rest args)
  "Print FORMAT-STRING with ARGS and exit 1."
  (princ (concat "dap-mode-session: FAILED: " (apply #'format format-string args) "\n"))
  (kill-emacs 1))

(defun dms-env (name)
  "The environment variable NAME, which must be set."
  (or (getenv name) (dms-fail "%s is not set" name)))

(defun dms-wait (what predicate &optional seconds)
  "Serve process output until PREDICATE is non-nil, at most SECONDS (30); fail with WHAT."
  (let ((deadline (+ (float-time) (or seconds 30))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (or (funcall predicate) (dms-fail "timed out waiting for %s" what))))

(defun dms-request (session command &rest args)
  "Send COMMAND with ARGS (a plist) and wait for its response; return it."
  (let (response)
    (dap--send-message (dap--make-request command args)
                       (lambda (r) (setq response r))
                       session)
    (dms-wait (format "the %s response" command) (lambda () response))
    (unless (eq (gethash "success" response) t)
      (dms-fail "%s failed: %s" command (gethash "message" response)))
    (gethash "body" response)))

(defun dms-expect (what expected actual)
  "Fail unless ACTUAL equals EXPECTED, naming WHAT."
  (unless (equal expected actual)
    (dms-fail "%s: expected %S, got %S" what expected actual)))

(defun dms-top-frame (session)
  "The stopped thread of SESSION and its top stack frame."
  (let* ((thread (dap--debug-session-thread-id session))
         (frames (gethash "stackFrames" (dms-request session "stackTrace" :threadId thread :levels 20))))
    (list thread (elt frames 0) frames)))

(defun dms-break-at (file line)
  "Set a breakpoint the way a user does: in FILE's buffer, at LINE."
  (with-current-buffer (find-file-noselect file)
    (goto-char (point-min))
    (forward-line (1- line))
    (dap-breakpoint-add)))

(defvar dms-stopped nil "The session that stopped last.")
(add-hook 'dap-stopped-hook (lambda (session) (setq dms-stopped session)))

(defun dms-attach ()
  "Attach by address to a debugpy running the fixture app; see the commentary."
  (let* ((workspace (file-name-as-directory (dms-env "WORKSPACE")))
         (app-root (dms-env "APP_ROOT"))
         (ws-file (expand-file-name "app.py" workspace))
         (line (string-to-number (dms-env "BREAK_LINE"))))
    (dms-break-at ws-file line)
    (dap-debug (list :type "dockdap" :request "attach" :name "dockdap e2e"
                     :connect (list :host "127.0.0.1" :port (string-to-number (dms-env "DEBUGPY_PORT")))
                     :appRoot app-root
                     :localRoot workspace
                     :justMyCode :json-false))
    (dms-wait "the breakpoint" (lambda () dms-stopped))
    (pcase-let* ((session dms-stopped)
                 (`(,thread ,top ,frames) (dms-top-frame session))
                 (frame-id (gethash "id" top)))
      (dms-expect "the top frame's file (the workspace copy)"
                  ws-file (gethash "path" (gethash "source" top)))
      (dms-expect "the top frame's line" line (gethash "line" top))
      (seq-doseq (frame frames)
        (let ((path (and (gethash "source" frame) (gethash "path" (gethash "source" frame)))))
          (when (and path (string-prefix-p app-root path))
            (dms-fail "a frame shows the app root path %s" path))))
      (let* ((scopes (gethash "scopes" (dms-request session "scopes" :frameId frame-id)))
             (locals (gethash "variablesReference" (elt scopes 0)))
             (variables (gethash "variables" (dms-request session "variables" :variablesReference locals)))
             (total (seq-find (lambda (v) (equal (gethash "name" v) "total")) variables)))
        (dms-expect "the local `total'" "6" (and total (gethash "value" total))))
      (dms-expect "evaluate total * scale" "12"
                  (gethash "result" (dms-request session "evaluate" :expression "total * scale"
                                                 :frameId frame-id :context "repl")))
      ;; dockdap's own request, through the package's dispatcher: an attach
      ;; by address has no container, and dockdap says so.
      (let (reply)
        (dockdap-request "dockdap/logs" nil (lambda (body error) (setq reply (list :body body :error error))))
        (dms-wait "the dockdap/logs answer" (lambda () reply))
        (dms-expect "dockdap/logs without a container"
                    "this session has no container, so there are no container logs"
                    (plist-get reply :error)))
      (dap-continue session thread)
      (dms-wait "the end of the session"
                (lambda () (eq (dap--debug-session-state session) 'terminated))))))

(defun dms-launch ()
  "Launch the example image, score through dockdap, stop in run(), disconnect."
  (let* ((workspace (file-name-as-directory (dms-env "WORKSPACE")))
         (score (expand-file-name "score.py" workspace))
         (line (string-to-number (dms-env "BREAK_LINE")))
         reply)
    (dms-break-at score line)
    (dap-debug (list :type "dockdap" :request "launch" :name "dockdap e2e launch"
                     :image (dms-env "IMAGE")
                     :containerName (dms-env "CONTAINER")
                     :localRoot workspace
                     :ports ["0:5001"]))
    ;; The scoring request goes through dockdap, asynchronously, and waits in run().
    (dms-wait "the launch" (lambda ()
                             (let ((s (dap--cur-session)))
                               (and s (eq (dap--debug-session-state s) 'running)))) 90)
    (dockdap-score)
    (dockdap-request "dockdap/score" nil (lambda (body error) (setq reply (list :body body :error error))))
    (dms-wait "the breakpoint in run()" (lambda () dms-stopped) 60)
    (pcase-let* ((session dms-stopped)
                 (`(,thread ,top ,_) (dms-top-frame session)))
      (dms-expect "the top frame's file (the workspace's score.py)" score (gethash "path" (gethash "source" top)))
      (dms-expect "the top frame's line" line (gethash "line" top))
      (dms-expect "the top frame's function" "run" (gethash "name" top))
      (when reply (dms-fail "the scoring request was answered while run() was stopped"))
      (setq dms-stopped nil)
      (dap-continue session thread)
      ;; `dockdap-score' asked first: it stops at the breakpoint again.
      (dms-wait "the second scoring request in run()" (lambda () dms-stopped) 60)
      (dap-continue session (dap--debug-session-thread-id dms-stopped))
      (dms-wait "the scoring reply" (lambda () reply) 60)
      (dms-expect "the scoring reply's error" nil (plist-get reply :error))
      (dms-expect "the scoring reply's status" 200 (gethash "status" (plist-get reply :body)))
      (dms-expect "the predictions" "[39.0, 22.5]" (gethash "body" (plist-get reply :body)))
      (dap-disconnect session)
      (dms-wait "the end of the session"
                (lambda () (eq (dap--debug-session-state session) 'terminated))))))

;; A hung client must not hang the test.
(run-with-timer 150 nil (lambda () (dms-fail "the whole session took over 150 s")))
(let ((dap-breakpoints-file (make-temp-file "dockdap-dap-breakpoints"))
      (dap-auto-show-output nil)
      (dockdap-program (dms-env "DOCKDAP_BIN"))
      (default-directory (file-name-as-directory (dms-env "WORKSPACE"))))
  (pcase (dms-env "SCENARIO")
    ("attach" (dms-attach))
    ("launch" (dms-launch))
    (other (dms-fail "unknown SCENARIO %s" other)))
  (princ "dap-mode-session: ok\n")
  (kill-emacs 0))

;;; dap-mode-session.el ends here
