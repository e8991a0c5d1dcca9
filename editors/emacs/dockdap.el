;;; dockdap.el --- Debug Python services in Docker containers with dockdap -*- lexical-binding: t -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1"))
;; Keywords: tools, debugging, docker
;; License: MIT OR Apache-2.0

;;; Commentary:

;; Configurations for the `dockdap' debug adapter in the two Emacs DAP
;; clients, and commands that send dockdap's own requests to the running
;; session:
;;
;; - dape (GNU ELPA): `dape-configs' entries `dockdap-launch',
;;   `dockdap-attach-container', `dockdap-attach-address' (stdio) and
;;   `dockdap-launch-tcp' (`dockdap --listen 127.0.0.1:PORT').  Written
;;   against dape 0.13 and later (`dape-request' taking a connection).
;; - dap-mode (Debian's elpa-dap-mode, MELPA): the debug provider "dockdap"
;;   and three templates for `dap-debug'.
;;
;; Neither client is required: each part is set up when its client loads.
;; Commands: `dockdap-score', `dockdap-logs', `dockdap-commit',
;; `dockdap-sync', `dockdap-reload'; they talk to whichever client has a live dockdap session.
;;
;; This file does not check configurations: dockdap answers a bad one with an
;; error that says what to change.  Attribute names are checked against
;; `dockdap schema' by the project's tests (tests/editors.rs).

;;; Code:

(require 'subr-x)

(defgroup dockdap nil
  "Debug Python services inside Docker containers with dockdap."
  :group 'tools
  :prefix "dockdap-")

(defcustom dockdap-program "dockdap"
  "The dockdap executable; a bare name is looked up on `exec-path'."
  :type 'string)

(defcustom dockdap-image "dockdap/azureml-score:debug"
  "Image the launch configurations start."
  :type 'string)

(defcustom dockdap-app-root "/var/azureml-app"
  "The app's folder inside the container (dockdap's `appRoot')."
  :type 'string)

;;;; dape

(defvar dape-configs)
(declare-function dape-request "ext:dape" (conn command arguments &optional cb))
(declare-function dape--live-connection "ext:dape" (type &optional nowarn require-selected))

(defun dockdap-dape-configs ()
  "The dockdap entries for `dape-configs'."
  (let ((common `(modes (python-mode python-ts-mode)
                  command ,dockdap-program
                  command-cwd dape-command-cwd
                  :type "dockdap"
                  :appRoot ,dockdap-app-root
                  :localRoot dape-cwd)))
    `((dockdap-launch ,@common
                      :request "launch"
                      :image ,dockdap-image
                      :ports ["8000:5001"])
      (dockdap-launch-tcp ,@common
                          command-args ("--listen" "127.0.0.1::autoport")
                          port :autoport
                          :request "launch"
                          :image ,dockdap-image
                          :ports ["8000:5001"])
      (dockdap-attach-container ,@common
                                :request "attach"
                                :container "debug")
      (dockdap-attach-address ,@common
                              :request "attach"
                              :connect (:host "127.0.0.1" :port 5678)))))

(defun dockdap-dape-setup ()
  "Add (or refresh) the dockdap configurations in `dape-configs'."
  (interactive)
  (dolist (config (dockdap-dape-configs))
    (setq dape-configs (cons config (assq-delete-all (car config) dape-configs)))))

(defcustom dockdap-launch-timeout 90
  "Seconds dape waits for dockdap to answer `launch' or `attach'.
dockdap answers once debugpy runs in the container, and a cold start
takes longer than `dape-request-timeout' (10 s by default), after which
dape would end the session.  dockdap's own `timeout' (60 s) reports a
start that hangs, with the reason, before this runs out."
  :type 'natnum)

(defvar dape-request-timeout)
(declare-function dape--config "ext:dape" (conn))

(defun dockdap--dape-patient-launch (launch conn)
  "Call LAUNCH on CONN; a dockdap session waits `dockdap-launch-timeout'."
  (let ((dape-request-timeout
         (if (and (fboundp 'dape--config)
                  (equal (plist-get (dape--config conn) :type) "dockdap"))
             (max dape-request-timeout dockdap-launch-timeout)
           dape-request-timeout)))
    (funcall launch conn)))

(with-eval-after-load 'dape
  (dockdap-dape-setup)
  ;; Only the `launch'/`attach' request of a dockdap session waits longer;
  ;; every other request keeps the user's timeout.
  (when (fboundp 'dape--launch-or-attach)
    (advice-add 'dape--launch-or-attach :around #'dockdap--dape-patient-launch)))

;;;; dap-mode

(declare-function dap-register-debug-provider "ext:dap-mode" (language-id provide-configuration-fn))
(declare-function dap-register-debug-template "ext:dap-mode" (configuration-name configuration-settings))
(declare-function dap--cur-session "ext:dap-mode" ())
(declare-function dap--session-running "ext:dap-mode" (debug-session))
(declare-function dap--send-message "ext:dap-mode" (message callback debug-session))
(declare-function dap--make-request "ext:dap-mode" (command &optional args))

(defun dockdap-dap-mode-provider (conf)
  "Complete the dap-mode configuration CONF: start `dockdap-program' on stdio."
  (unless (plist-get conf :dap-server-path)
    (setq conf (plist-put conf :dap-server-path (list dockdap-program))))
  conf)

(defun dockdap-dap-mode-setup ()
  "Register the dockdap debug provider and templates with dap-mode."
  (interactive)
  (dap-register-debug-provider "dockdap" #'dockdap-dap-mode-provider)
  (dap-register-debug-template
   "dockdap: launch score.py in a container"
   (list :type "dockdap" :request "launch"
         :image dockdap-image
         :appRoot dockdap-app-root
         :localRoot "${workspaceFolder}"
         :ports ["8000:5001"]))
  (dap-register-debug-template
   "dockdap: attach to a running container"
   (list :type "dockdap" :request "attach"
         :container "debug"
         :appRoot dockdap-app-root
         :localRoot "${workspaceFolder}"))
  (dap-register-debug-template
   "dockdap: attach to debugpy at host:port"
   (list :type "dockdap" :request "attach"
         :connect (list :host "127.0.0.1" :port 5678)
         :appRoot dockdap-app-root
         :localRoot "${workspaceFolder}")))

(with-eval-after-load 'dap-mode (dockdap-dap-mode-setup))

;;;; Custom requests

(defun dockdap--dape-connection ()
  "The live dape connection, or nil."
  (and (featurep 'dape) (dape--live-connection 'parent t)))

(defun dockdap--dap-mode-session ()
  "The current running dap-mode session, or nil."
  (and (featurep 'dap-mode)
       (let ((session (dap--cur-session)))
         (and session (dap--session-running session) session))))

(defun dockdap-request (command arguments callback)
  "Send dockdap's request COMMAND with ARGUMENTS (a plist) to the live session.
Asynchronous: a scoring request may wait on a breakpoint in `run()', and
Emacs must stay usable to continue.  CALLBACK gets the response body (a
plist under dape, a hash table under dap-mode) and an error message or nil."
  (let ((arguments (or arguments (make-hash-table))))
    (cond
     ((dockdap--dape-connection)
      (dape-request (dockdap--dape-connection) command arguments callback))
     ((dockdap--dap-mode-session)
      (dap--send-message
       (dap--make-request command arguments)
       (lambda (response)
         (if (eq (gethash "success" response) t)
             (funcall callback (gethash "body" response) nil)
           (funcall callback nil (or (gethash "message" response) "failed"))))
       (dockdap--dap-mode-session)))
     (t (user-error "No dockdap debug session is running; start one with `dape' or `dap-debug'")))))

(defun dockdap--get (body key)
  "KEY (a string) of a response BODY from either client."
  (cond ((hash-table-p body) (gethash key body))
        ((listp body) (plist-get body (intern (concat ":" key))))))

(defun dockdap--reply (command show)
  "A callback for COMMAND that calls SHOW with the body, or reports the error."
  (lambda (body error)
    (if error
        (message "dockdap: %s failed: %s" command error)
      (funcall show body))))

(defun dockdap--show (title text)
  "Show TEXT in the buffer `*dockdap TITLE*'."
  (with-current-buffer (get-buffer-create (format "*dockdap %s*" title))
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert text))
    (special-mode)
    (display-buffer (current-buffer))))

(defun dockdap-score (&optional file)
  "POST the sample scoring request, or the JSON in FILE (with a prefix argument)."
  (interactive (list (and current-prefix-arg (read-file-name "JSON request: " nil nil t))))
  (dockdap-request
   "dockdap/score"
   (and file (list :data (with-temp-buffer
                           (insert-file-contents file)
                           (buffer-string))))
   (dockdap--reply "dockdap/score"
                   (lambda (body)
                     (dockdap--show "score" (format "POST /score -> %s\n%s\n"
                                                    (dockdap--get body "status")
                                                    (dockdap--get body "body")))))))

(defun dockdap-logs ()
  "Show the container's last output lines."
  (interactive)
  (dockdap-request "dockdap/logs" nil
                   (dockdap--reply "dockdap/logs"
                                   (lambda (body) (dockdap--show "logs" (or (dockdap--get body "text") ""))))))

(defun dockdap-commit (tag)
  "Snapshot the container as TAG (empty: the next version, debug:1 -> debug:2)."
  (interactive (list (read-string "Snapshot tag (empty: next version): ")))
  (dockdap-request "dockdap/commit"
                   (and tag (not (string-empty-p tag)) (list :tag tag))
                   (dockdap--reply "dockdap/commit"
                                   (lambda (body)
                                     (message "dockdap: container saved as %s" (dockdap--get body "image"))))))

(defun dockdap-sync ()
  "Sync files between the workspace and the container."
  (interactive)
  (dockdap-request "dockdap/sync" nil
                   (dockdap--reply "dockdap/sync"
                                   (lambda (body)
                                     (message "dockdap: pulled %d, pushed %d, conflicts %S"
                                              (length (dockdap--get body "pulled"))
                                              (length (dockdap--get body "pushed"))
                                              (append (dockdap--get body "conflicts") nil))))))

(defun dockdap-reload ()
  "Reload the app in place: saves go in, the workers restart, breakpoints kept."
  (interactive)
  (dockdap-request "dockdap/reload" nil
                   (dockdap--reply "dockdap/reload"
                                   (lambda (body)
                                     (message "dockdap: reloaded the %s" (dockdap--get body "reloaded"))))))

(provide 'dockdap)
;;; dockdap.el ends here
