import CoreLocation
import SwiftUI
import UIKit

/// Location fixes, WGS-84 with accuracy (the core stores WGS-84; GCJ-02 only for map display).
final class LocationFeed: NSObject, ObservableObject, CLLocationManagerDelegate {
    @Published var fix: GpsFix?
    private let manager = CLLocationManager()

    func start() {
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
        manager.requestWhenInUseAuthorization()
        manager.startUpdatingLocation()
    }

    func stop() { manager.stopUpdatingLocation() }

    func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        guard let loc = locations.last else { return }
        fix = GpsFix(lat: loc.coordinate.latitude, lon: loc.coordinate.longitude,
                     accuracyM: loc.horizontalAccuracy >= 0 ? loc.horizontalAccuracy : nil, provider: "core_location")
    }
}

/// The system camera; the photo is written as a JPEG file whose path goes to the core.
struct CameraPicker: UIViewControllerRepresentable {
    let onPhoto: (String) -> Void

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = UIImagePickerController.isSourceTypeAvailable(.camera) ? .camera : .photoLibrary
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: UIImagePickerController, context: Context) {}
    func makeCoordinator() -> Coordinator { Coordinator(onPhoto: onPhoto) }

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        let onPhoto: (String) -> Void
        init(onPhoto: @escaping (String) -> Void) { self.onPhoto = onPhoto }

        func imagePickerController(_ picker: UIImagePickerController,
                                   didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
            picker.dismiss(animated: true)
            guard let image = info[.originalImage] as? UIImage, let data = image.jpegData(compressionQuality: 0.92) else { return }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("camera-\(UUID().uuidString).jpg")
            if (try? data.write(to: url)) != nil { onPhoto(url.path) }
        }
    }
}

struct CaptureView: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.dismiss) private var dismiss
    let estate: Estate
    @StateObject private var location = LocationFeed()
    @State private var category: CategoryInfo?
    @State private var building = ""
    @State private var unitNo = ""
    @State private var note = ""
    @State private var text = ""
    @State private var photos: [String] = []
    @State private var routing: RoutingPreview?
    @State private var warnings: [CaptureWarning] = []
    @State private var photoWarnings: [String] = []
    @State private var showCamera = false
    @State private var error: String?
    private let entries = catalog()

    private var draft: CaseDraft? {
        guard let category else { return nil }
        return CaseDraft(category: category.category, estateId: estate.id,
                         building: building.isEmpty ? nil : building, unitNo: unitNo.isEmpty ? nil : unitNo,
                         locationNote: note.isEmpty ? nil : note, description: text.isEmpty ? nil : text,
                         gps: location.fix, photoPaths: photos)
    }

    var body: some View {
        Form {
            Section("现场照片") {
                Button("拍照（已拍 \(photos.count) 张）") { showCamera = true }
                if let fix = location.fix {
                    Text(String(format: "定位 %.5f, %.5f  精度 ±%.0f 米", fix.lat, fix.lon, fix.accuracyM ?? -1))
                } else {
                    Text("正在定位…")
                }
            }
            Section("问题类别") {
                Picker("类别", selection: $category) {
                    Text("请选择").tag(CategoryInfo?.none)
                    ForEach(entries, id: \.code) { Text($0.nameZh).tag(Optional($0)) }
                }
                if let category { Text("依据：\(category.legalBasis)").font(.footnote) }
                if let routing { Text("处置单位：\(routing.owner.name)").font(.footnote) }
            }
            Section("位置与描述") {
                TextField("楼号", text: $building)
                TextField("单元", text: $unitNo)
                TextField("位置说明", text: $note)
                TextField("问题描述", text: $text)
            }
            ForEach(Array(warnings.enumerated()), id: \.offset) { _, w in warningRow(w) }
            if let error { Text(error).foregroundStyle(.red) }
            Button("保存（离线也可以）") { save() }.disabled(draft == nil || photos.isEmpty)
        }
        .navigationTitle("上报 · \(estate.name)")
        .sheet(isPresented: $showCamera) { CameraPicker { photos.append($0) } }
        .alert("已保存，请核对照片", isPresented: Binding(get: { !photoWarnings.isEmpty }, set: { if !$0 { photoWarnings = []; dismiss() } })) {
            Button("知道了") { photoWarnings = []; dismiss() }
        } message: {
            Text(photoWarnings.joined(separator: "\n"))
        }
        .onAppear { location.start() }
        .onDisappear { location.stop() }
        .task(id: "\(category?.code ?? "")|\(location.fix?.lat ?? 0)") { await refresh() }
    }

    @ViewBuilder private func warningRow(_ w: CaptureWarning) -> some View {
        switch w {
        case let .lowGpsAccuracy(_, _, message), let .outsideEstate(_, _, _, message),
             let .photoTakenEarlier(_, _, _, _, message), let .photoFarFromFix(_, _, _, message):
            Text(message).foregroundStyle(.orange)
        case let .possibleDuplicates(_, cases, message):
            VStack(alignment: .leading) {
                Text(message).foregroundStyle(.orange)
                ForEach(cases, id: \.`case`.id) { d in
                    Button("追加到已有案件（\(Int(d.distanceM)) 米）") { addTo(caseId: d.`case`.id) }
                }
            }
        }
    }

    private func refresh() async {
        guard let d = draft else { return }
        let client = model.client
        routing = try? await background { try client.previewRouting(category: d.category, estateId: d.estateId) }
        warnings = (try? await background { try client.checkDraft(draft: d) }) ?? []
    }

    private func save() {
        guard let d = draft else { return }
        let client = model.client
        Task {
            do {
                let captured = try await background { try client.capture(draft: d) }
                warnings = captured.warnings
                model.changed()
                Task { await model.syncNow() }
                // Photo provenance (F3): a photo taken long before or far from the fix is shown
                // to the inspector before leaving; the case is saved either way.
                photoWarnings = captured.warnings.compactMap { w in
                    switch w {
                    case let .photoTakenEarlier(_, _, _, _, message), let .photoFarFromFix(_, _, _, message): return message
                    default: return nil
                    }
                }
                if photoWarnings.isEmpty { dismiss() }
            } catch { self.error = messageZh(error) }
        }
    }

    private func addTo(caseId: String) {
        let client = model.client
        let draft = ActionDraft(action: .comment, note: text.isEmpty ? nil : text, gps: location.fix,
                                photoPaths: photos, photoKind: .before)
        Task {
            do {
                _ = try await background { try client.act(caseId: caseId, draft: draft) }
                model.changed()
                dismiss()
            } catch { self.error = messageZh(error) }
        }
    }
}
